#!/usr/bin/python3
"""Checks python/inpaint/_core.pyi against the compiled inpaint._core.

Every public name of the module must be in the stub and the other way round, with the same
kind (class, function, attribute); class members likewise. Functions and methods must take the
same parameters, in the same order, with the same defaults as pybind11 reports them, and the
keyword options of fill() and run() must be the ones the module accepts.

Usage: PYTHONPATH=build/python /usr/bin/python3 tests/python/check_stubs.py [STUB]
Exit status 0 when they agree; otherwise each difference is printed.
"""

import ast
import sys
import types
from pathlib import Path

STUB = Path(__file__).resolve().parents[2] / "python" / "inpaint" / "_core.pyi"


def is_public(name):
    return not name.startswith("_")


# --- what the stub says -------------------------------------------------------------------


def stub_kind(node):
    if isinstance(node, ast.ClassDef):
        return "class"
    if isinstance(node, ast.FunctionDef):
        decorators = {ast.unparse(d) for d in node.decorator_list}
        settable = any(d.endswith(".setter") for d in decorators)  # the setter of a property above
        return "attribute" if "property" in decorators or settable else "function"
    return "attribute"  # an annotated or assigned name


def stub_members(body):
    """Name -> node of the definitions in a module or class body."""
    members = {}
    for node in body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            members[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            members[node.target.id] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    members[target.id] = node
    return members


def stub_parameters(node):
    """[(name, default source or None)] of the positional and of the keyword-only parameters."""
    args = node.args
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + [ast.unparse(d) for d in args.defaults]
    params = [(a.arg, d) for a, d in zip(positional, defaults) if a.arg != "self"]
    keyword_only = [(a.arg, ast.unparse(d) if d is not None else None) for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    return params, keyword_only


# --- what the module says -----------------------------------------------------------------


def module_kind(value):
    if isinstance(value, type):
        return "class"
    if callable(value) and not isinstance(value, property):
        return "function"
    return "attribute"


def split_top_level(text):
    """Splits at commas outside brackets and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    if text[start:].strip():
        parts.append(text[start:].strip())
    return parts


def module_parameters(function):
    """[(name, default or None)] of the positional and of the keyword-only parameters (those after
    a bare `*`) from pybind11's signature line, and whether it takes **kwargs."""
    first_line = (function.__doc__ or "").splitlines()[0]
    opening = first_line.index("(")
    depth = 0
    for closing in range(opening, len(first_line)):
        depth += {"(": 1, ")": -1}.get(first_line[closing], 0)
        if depth == 0:
            break
    params, keyword_only, takes_kwargs = [], [], False
    target = params
    for part in split_top_level(first_line[opening + 1 : closing]):
        name, _, rest = part.partition(":")
        name = name.strip()
        if name.startswith("**"):
            takes_kwargs = True
            continue
        if name == "*":
            target = keyword_only
            continue
        if name == "self":
            continue
        _, equals, default = rest.partition(" = ")
        target.append((name, default.strip() if equals else None))
    return params, keyword_only, takes_kwargs


def accepted_keywords(core, name):
    """The keyword options fill() and run() accept: their error for an unknown one lists them."""
    import numpy as np

    model = core.Model()
    if name == "fill":
        args = (model, np.zeros((1, 1, 3), np.uint8), np.zeros((1, 1), np.uint8))
    elif name == "run":
        args = (model, b"", b"")
    else:
        return None
    try:
        getattr(core, name)(*args, unknown_keyword_probe=0)
    except TypeError as error:
        message = str(error)
        if "(it takes " in message:
            return [k.strip() for k in message.split("(it takes ", 1)[1].rstrip(")").split(",")]
    return None


# --- comparison ---------------------------------------------------------------------------


def compare_signature(where, function, node, core, problems):
    params, keyword_only, takes_kwargs = module_parameters(function)
    stub_params, stub_keyword_only = stub_parameters(node)
    if params != stub_params:
        problems.append(f"{where}: module takes {params}, stub says {stub_params}")
    if takes_kwargs:
        accepted = accepted_keywords(core, where)
        stub_keywords = [name for name, _ in stub_keyword_only]
        if accepted is None:
            problems.append(f"{where}: takes **kwargs, but the check cannot learn which")
        elif accepted != stub_keywords:
            problems.append(f"{where}: module accepts keywords {accepted}, stub lists {stub_keywords}")
    elif keyword_only != stub_keyword_only:
        problems.append(f"{where}: module takes keyword-only {keyword_only}, stub says {stub_keyword_only}")


def compare_members(where, actual, declared, core, problems):
    """actual: name -> object of the module (or class); declared: name -> stub node."""
    for name in sorted(set(actual) - set(declared)):
        problems.append(f"{where}{name}: in the module, missing from the stub")
    for name in sorted(set(declared) - set(actual)):
        problems.append(f"{where}{name}: in the stub, missing from the module")
    for name in sorted(set(actual) & set(declared)):
        value, node = actual[name], declared[name]
        if isinstance(value, staticmethod):
            value = value.__func__  # its own __doc__ is staticmethod's, not the signature
        kind, expected = module_kind(value), stub_kind(node)
        if kind != expected:
            problems.append(f"{where}{name}: the module has a {kind}, the stub a {expected}")
        elif kind == "function":
            compare_signature(f"{where}{name}", value, node, core, problems)
        elif kind == "class":
            bases = [b.__name__ for b in value.__bases__ if b.__name__ not in ("object", "pybind11_object")]
            if bases != [ast.unparse(b) for b in node.bases]:
                problems.append(f"{where}{name}: module bases {bases}, stub bases {[ast.unparse(b) for b in node.bases]}")
            # A constructor the module defines must be in the stub; the slot every class inherits
            # (a wrapper_descriptor, "No constructor defined") must not.
            members = {
                k: v
                for k, v in vars(value).items()
                if is_public(k) or (k == "__init__" and not isinstance(v, types.WrapperDescriptorType))
            }
            declared_members = {k: v for k, v in stub_members(node.body).items() if is_public(k) or k == "__init__"}
            compare_members(f"{where}{name}.", members, declared_members, core, problems)


def problems(stub_path=STUB):
    """The differences between the stub and the module, as readable lines."""
    from inpaint import _core as core

    found = []
    actual = {k: v for k, v in vars(core).items() if is_public(k)}
    declared = {k: v for k, v in stub_members(ast.parse(Path(stub_path).read_text()).body).items() if is_public(k)}
    compare_members("", actual, declared, core, found)
    return found


def main(argv):
    found = problems(argv[1] if len(argv) > 1 else STUB)
    for line in found:
        print(line)
    print(f"{len(found)} difference(s) between the stub and inpaint._core" if found else "stub matches inpaint._core")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
