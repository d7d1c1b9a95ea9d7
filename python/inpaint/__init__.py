"""libinpaint for Python: fill holes in photos.

    import inpaint
    model = inpaint.Model("telea")            # or inpaint.Model(os.environ["MODEL_VARIANT"])
    result = inpaint.run(model, photo_bytes, mask_bytes, format="png")
    upload(result.encoded)

Images are numpy uint8 arrays, RGB (height, width, 3); masks are (height, width) with 255 = hole
and 0 = keep. Inputs must be C-contiguous uint8 (nothing is converted or copied silently);
outputs own their memory. Native work runs with the GIL released, so threads run requests
concurrently. Every failure raises a subclass of inpaint.Error.

Encodings (an image encoder's feature tensors) are kept in stores:

    store = inpaint.Store("memory:capacity=1GB|dir:path=/var/cache/enc|redis://cache:6379")
    key = inpaint.encoding_id(pixels, "sam3")
    encoding = store.get(key)                 # None on a miss; tensors are numpy views

Segmenters encode an image once and answer many prompts from the encoding:

    seg = inpaint.Segmenter("sam:encoder=enc.pt,decoder=dec.pt")   # or "grabcut", no model file
    encoding, outcome = seg.encode_with_store(pixels, store)       # encodes only on a miss
    best = seg.segment(encoding, points=[(120, 80)])[0]            # best.mask: (h, w) uint8

Background removal: a matter mattes the photo, effects render it, a ResultCache serves repeats:

    matter = inpaint.load_matter("saliency")                       # or "salient:path=isnet.pt,..."
    result = inpaint.remove_background(matter, photo_bytes, effects="color,bw", store=store,
                                       cache=inpaint.ResultCache(256 << 20))
    upload(result.outputs["color"])                                # RGBA PNG

Video segmentation: prompt objects on a few frames of a clip, then propagate their masks:

    source = inpaint.VideoSource("clip.mp4")                       # or a directory of PNG/JPEG frames
    video = inpaint.VideoSegmenter("sam2video:encoder=e.pt,memory_encoder=m.pt,decoder=d.pt")
    session = video.open_session(source)
    session.add_prompt(12, 1, points=[(160, 120)])                 # frame 12, object 1
    for frame in session.propagate(direction="both"):              # a thread of its own; GIL released
        save(frame.frame, frame.objects[0].mask)
"""

from ._core import (
    CancelledError,
    CancelToken,
    CutoutResult,
    DecodedImage,
    DecodeError,
    Encoding,
    Error,
    FileError,
    FrameMasks,
    InternalError,
    InvalidArgumentError,
    Matter,
    Model,
    ModelInfo,
    ObjectMask,
    ParseError,
    Prompt,
    PropagateSummary,
    Propagation,
    Result,
    ResultCache,
    Segmenter,
    SegmentMask,
    SegmentResult,
    Store,
    TooLargeError,
    UnavailableError,
    UnknownModelError,
    VideoInfo,
    VideoSegmenter,
    VideoSession,
    VideoSource,
    WaitTimeoutError,
    __version__,
    backends,
    build_prompt,
    clean_mask,
    decide_label_wait,
    decode,
    decode_mask,
    default_matter_spec,
    default_model_spec,
    default_segmenter_spec,
    effect_names,
    effect_parameters,
    encode,
    encoding_id,
    estimate_foreground,
    feather_mask,
    fill,
    label_scene,
    load_backend,
    load_matter,
    mask_bounds,
    matters,
    max_concurrent_propagations,
    models,
    pipeline_options,
    pixel_sha256,
    prompt_table,
    read_file,
    read_safetensors,
    refine_alpha,
    register_model,
    remove_background,
    render_effects,
    run,
    running_propagations,
    segmenters,
    set_max_concurrent_propagations,
    surface_labels,
    validate_encoding_id,
    version,
    video_segmenters,
    write_file_atomic,
    write_safetensors,
)

__all__ = [
    "CancelledError",
    "CancelToken",
    "CutoutResult",
    "DecodedImage",
    "DecodeError",
    "Encoding",
    "Error",
    "FileError",
    "FrameMasks",
    "InternalError",
    "InvalidArgumentError",
    "Matter",
    "Model",
    "ModelInfo",
    "ObjectMask",
    "ParseError",
    "Prompt",
    "PropagateSummary",
    "Propagation",
    "Result",
    "ResultCache",
    "Segmenter",
    "SegmentMask",
    "SegmentResult",
    "Store",
    "TooLargeError",
    "UnavailableError",
    "UnknownModelError",
    "VideoInfo",
    "VideoSegmenter",
    "VideoSession",
    "VideoSource",
    "WaitTimeoutError",
    "__version__",
    "backends",
    "build_prompt",
    "clean_mask",
    "decide_label_wait",
    "decode",
    "decode_mask",
    "default_matter_spec",
    "default_model_spec",
    "default_segmenter_spec",
    "effect_names",
    "effect_parameters",
    "encode",
    "encoding_id",
    "estimate_foreground",
    "feather_mask",
    "fill",
    "label_scene",
    "load_backend",
    "load_matter",
    "mask_bounds",
    "matters",
    "max_concurrent_propagations",
    "models",
    "pipeline_options",
    "pixel_sha256",
    "prompt_table",
    "read_file",
    "read_safetensors",
    "refine_alpha",
    "register_model",
    "remove_background",
    "render_effects",
    "run",
    "running_propagations",
    "segmenters",
    "set_max_concurrent_propagations",
    "surface_labels",
    "validate_encoding_id",
    "version",
    "video_segmenters",
    "write_file_atomic",
    "write_safetensors",
]
