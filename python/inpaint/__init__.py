"""libinpaint for Python: fill holes in photos.

    import inpaint
    model = inpaint.Model("telea")            # or inpaint.Model(os.environ["MODEL_VARIANT"])
    result = inpaint.run(model, photo_bytes, mask_bytes, format="png")
    upload(result.encoded)

Images are numpy uint8 arrays, RGB (height, width, 3); masks are (height, width) with 255 = hole
and 0 = keep. Inputs must be C-contiguous uint8 (nothing is converted or copied silently);
outputs own their memory. Native work runs with the GIL released, so threads run requests
concurrently. Every failure raises a subclass of inpaint.Error.
"""

from ._core import (
    CancelledError,
    DecodedImage,
    DecodeError,
    Error,
    FileError,
    InternalError,
    InvalidArgumentError,
    Model,
    ParseError,
    Prompt,
    Result,
    TooLargeError,
    UnknownModelError,
    __version__,
    build_prompt,
    clean_mask,
    decide_label_wait,
    decode,
    decode_mask,
    default_model_spec,
    encode,
    feather_mask,
    fill,
    mask_bounds,
    models,
    read_file,
    run,
    version,
    write_file_atomic,
)

__all__ = [
    "CancelledError",
    "DecodedImage",
    "DecodeError",
    "Error",
    "FileError",
    "InternalError",
    "InvalidArgumentError",
    "Model",
    "ParseError",
    "Prompt",
    "Result",
    "TooLargeError",
    "UnknownModelError",
    "__version__",
    "build_prompt",
    "clean_mask",
    "decide_label_wait",
    "decode",
    "decode_mask",
    "default_model_spec",
    "encode",
    "feather_mask",
    "fill",
    "mask_bounds",
    "models",
    "read_file",
    "run",
    "version",
    "write_file_atomic",
]
