"""A fill model that changes nothing, for measuring what surrounds the model in a service.

`identity_fill(image, mask, prompt)` hands the image back as it came. Importing this module
with libinpaint importable registers it as the fill model `identity`
(`inpaint.register_model`), so the reference service loads it with
SERVICE_MODEL_MODULES=service_identity_model MODEL_SPEC=identity (bench/ on PYTHONPATH).
bench/seed_worker.py calls the same `identity_fill` on its crop, without libinpaint, so both
services run the same (free) model and a comparison of the two measures only the work around
it: decoding, mask clean-up, cropping, compositing, encoding, storage and the HTTP layer.
"""
NAME = "identity"


def identity_fill(image, mask, prompt=""):
    """Returns `image` itself: no copy, no pixel touched. The library accepts its own input
    view handed back and copies it into its result; the seed worker composites from it."""
    return image


class IdentityModel:
    """The object the registry's factory returns: `inpaint(image, mask, prompt)`."""

    def __init__(self, **spec_params):
        if spec_params:
            raise ValueError(f"the identity model takes no spec keys, got {sorted(spec_params)}")

    def inpaint(self, image, mask, prompt=""):
        return identity_fill(image, mask, prompt)


def register():
    """Registers `identity` once per process (a second import or call is a no-op)."""
    import inpaint

    if NAME not in {info.name for info in inpaint.models()}:
        inpaint.register_model(NAME, IdentityModel, "returns the photo unchanged (benchmarks)")


try:
    import inpaint as _inpaint  # noqa: F401
except ImportError:  # the seed worker's process runs without libinpaint on its path
    _inpaint = None
if _inpaint is not None:
    register()
