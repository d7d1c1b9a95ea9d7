# Type stubs of the compiled module; tests/python/check_stubs.py checks them against it.
from os import PathLike
from typing import Any, Callable, ClassVar, Literal, Optional, Union, final

import numpy as np
import numpy.typing as npt

_Array = npt.NDArray[np.uint8]  # uint8, C-contiguous: RGB (h, w, 3) or mask (h, w)
_Bytes = Union[bytes, bytearray, memoryview]
_Path = Union[str, PathLike[str]]
_Format = Literal["png", "jpeg", "jpg"]
_MaskBackend = Literal["opencv", "tensor"]
_Strategy = Literal["auto", "original", "crop", "resize"]
_Labels = Union[dict[str, object], str, None]
_Box = tuple[int, int, int, int]  # x, y, width, height
_Tensor = npt.NDArray[Any]  # read-only view; BF16 as uint16 bits, F8 as uint8 bits
_Params = Optional[dict[str, Union[bool, int, float, str]]]  # per-call model parameters

__version__: str

class Error(Exception):
    code: ClassVar[Optional[str]]

class InvalidArgumentError(Error, ValueError):
    code: ClassVar[str]

class DecodeError(Error, ValueError):
    code: ClassVar[str]

class TooLargeError(Error, ValueError):
    code: ClassVar[str]

class FileError(Error, OSError):
    code: ClassVar[str]

class UnknownModelError(Error, ValueError):
    code: ClassVar[str]

class ParseError(Error, ValueError):
    code: ClassVar[str]

class CancelledError(Error):
    code: ClassVar[str]

class InternalError(Error):
    code: ClassVar[str]

class UnavailableError(Error, ConnectionError):
    code: ClassVar[str]

class WaitTimeoutError(Error, TimeoutError):
    code: ClassVar[str]

def version() -> str: ...

@final
class DecodedImage:
    @property
    def rgb(self) -> _Array: ...
    @property
    def alpha(self) -> Optional[_Array]: ...
    @property
    def exif_orientation(self) -> int: ...
    @property
    def decode_ms(self) -> float: ...
    @property
    def orient_ms(self) -> float: ...

def decode(data: _Bytes, max_pixels: int = 100000000, apply_exif_orientation: bool = True) -> DecodedImage: ...
def decode_mask(data: _Bytes, max_pixels: int = 100000000, apply_exif_orientation: bool = True) -> _Array: ...
def encode(image: _Array, format: _Format = "jpeg", quality: int = 90, alpha: Optional[_Array] = None) -> bytes: ...
def read_file(path: _Path) -> bytes: ...
def write_file_atomic(path: _Path, data: _Bytes) -> None: ...
def clean_mask(
    mask: _Array,
    threshold: int = 127,
    open_radius: int = 2,
    close_radius: int = 2,
    min_island_area: int = 64,
    min_hole_area: int = 64,
    dilate_px: int = 15,
    backend: _MaskBackend = "opencv",
    device: str = "cpu",
) -> _Array: ...
def feather_mask(mask: _Array, feather_px: int) -> _Array: ...
def mask_bounds(mask: _Array, threshold: int = 127) -> Optional[_Box]: ...

@final
class Prompt:
    @property
    def text(self) -> str: ...
    @property
    def from_labels(self) -> bool: ...
    @property
    def reason(self) -> str: ...

def build_prompt(labels: _Labels, table: Optional[_Path] = None, min_confidence: float = 0.5) -> Prompt: ...
def decide_label_wait(
    attempt: int,
    age_s: float,
    labels_present: bool,
    max_wait_attempt: int = 3,
    max_wait_age_s: float = 60.0,
    give_up_attempt: int = 5,
) -> Literal["wait", "proceed_with_labels", "proceed_with_fallback", "give_up"]: ...
def models() -> list[tuple[str, str]]: ...
def default_model_spec() -> str: ...

@final
class Model:
    def __init__(self, spec: Optional[str] = None) -> None: ...
    @property
    def spec(self) -> str: ...
    @property
    def load_info(self) -> dict[str, Any]: ...
    @property
    def ready(self) -> bool: ...
    def inpaint(self, image: _Array, mask: _Array, prompt: str = "", params: _Params = None) -> _Array: ...
    def parameters(self) -> list[dict[str, Any]]: ...
    @property
    def geometry(self) -> dict[str, int]: ...

@final
class Result:
    @property
    def image(self) -> _Array: ...
    @property
    def alpha(self) -> Optional[_Array]: ...
    @property
    def encoded(self) -> Optional[bytes]: ...
    @property
    def preview(self) -> Optional[bytes]: ...
    @property
    def strategy(self) -> Literal["original", "crop", "resize"]: ...
    @property
    def regions(self) -> int: ...
    @property
    def mask_empty(self) -> bool: ...
    @property
    def hole(self) -> Optional[_Box]: ...
    @property
    def timings(self) -> dict[str, float]: ...

@final
class CancelToken:
    def __init__(self, timeout: Optional[float] = None) -> None: ...
    def cancel(self) -> None: ...
    @property
    def cancelled(self) -> bool: ...
    def set_timeout(self, seconds: float) -> None: ...

def fill(
    model: Model,
    image: _Array,
    mask: _Array,
    *,
    clean: bool = True,
    threshold: int = 127,
    open_radius: int = 2,
    close_radius: int = 2,
    min_island_area: int = 64,
    min_hole_area: int = 64,
    dilate_px: int = 15,
    mask_backend: _MaskBackend = "opencv",
    mask_device: str = "cpu",
    resize_mask: bool = False,
    strategy: _Strategy = "auto",
    crop_trigger: int = 800,
    crop_margin: int = 128,
    resize_long_side: int = 1280,
    feather_px: int = 8,
    prompt: str = "",
    params: _Params = None,
    cancel: Optional[CancelToken] = None,
    progress: Optional[Callable[[float], Optional[bool]]] = None,
) -> Result: ...
def run(
    model: Model,
    image: _Bytes,
    mask: _Bytes,
    *,
    clean: bool = True,
    threshold: int = 127,
    open_radius: int = 2,
    close_radius: int = 2,
    min_island_area: int = 64,
    min_hole_area: int = 64,
    dilate_px: int = 15,
    mask_backend: _MaskBackend = "opencv",
    mask_device: str = "cpu",
    resize_mask: bool = False,
    strategy: _Strategy = "auto",
    crop_trigger: int = 800,
    crop_margin: int = 128,
    resize_long_side: int = 1280,
    feather_px: int = 8,
    prompt: str = "",
    params: _Params = None,
    cancel: Optional[CancelToken] = None,
    progress: Optional[Callable[[float], Optional[bool]]] = None,
    max_pixels: int = 100000000,
    apply_exif_orientation: bool = True,
    format: _Format = "jpeg",
    quality: int = 90,
    preview_long_side: int = 0,
    preview_quality: int = 85,
) -> Result: ...

@final
class Encoding:
    def __init__(
        self,
        model_id: str = "",
        model_checksum: str = "",
        preprocessing: str = "",
        dtype: str = "",
        image_sha256: str = "",
        original_width: int = 0,
        original_height: int = 0,
        created_at: int = 0,
    ) -> None: ...
    def add(self, name: str, array: npt.NDArray[Any], dtype: Optional[str] = None, copy: bool = True) -> None: ...
    def names(self) -> list[str]: ...
    def dtype_of(self, name: str) -> str: ...
    def __getitem__(self, name: str) -> _Tensor: ...
    def __contains__(self, name: str) -> bool: ...
    def __len__(self) -> int: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: _Bytes) -> Encoding: ...
    @property
    def nbytes(self) -> int: ...
    @property
    def model_id(self) -> str: ...
    @property
    def model_checksum(self) -> str: ...
    @property
    def preprocessing(self) -> str: ...
    @property
    def dtype(self) -> str: ...
    @property
    def image_sha256(self) -> str: ...
    @property
    def original_width(self) -> int: ...
    @property
    def original_height(self) -> int: ...
    @property
    def created_at(self) -> int: ...
    @property
    def format_version(self) -> int: ...
    @property
    def extra(self) -> dict[str, str]: ...

def read_safetensors(path: _Path) -> Encoding: ...
def write_safetensors(path: _Path, encoding: Encoding) -> None: ...
def pixel_sha256(pixels: _Array) -> str: ...
def encoding_id(pixels: _Array, model_id: str) -> str: ...
def validate_encoding_id(id: str) -> None: ...

@final
class Store:
    def __init__(self, spec: str) -> None: ...
    @property
    def spec(self) -> str: ...
    @property
    def capacity(self) -> int: ...
    def exists(self, id: str) -> bool: ...
    def get(self, id: str) -> Optional[Encoding]: ...
    def put(self, id: str, encoding: Encoding) -> None: ...
    def remove(self, id: str) -> bool: ...
    def ids(self) -> list[str]: ...
    def usage(self) -> tuple[int, int]: ...
    def stats(self) -> dict[str, Any]: ...

def segmenters() -> list[tuple[str, str]]: ...
def default_segmenter_spec() -> str: ...
def surface_labels() -> list[str]: ...

class SegmentMask:
    def __init__(self, mask: _Array, score: float = 1.0, label: str = "") -> None: ...
    @property
    def mask(self) -> _Array: ...
    @property
    def score(self) -> float: ...
    @property
    def box(self) -> Optional[_Box]: ...
    @property
    def label(self) -> str: ...
    @property
    def low_res_logits(self) -> Optional[npt.NDArray[np.float32]]: ...

class SegmentResult:
    @property
    def masks(self) -> list[SegmentMask]: ...
    @property
    def timings(self) -> dict[str, float]: ...
    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> SegmentMask: ...

@final
class Segmenter:
    def __init__(self, spec: Optional[str] = None) -> None: ...
    @property
    def spec(self) -> str: ...
    @property
    def model_id(self) -> str: ...
    @property
    def capabilities(self) -> dict[str, Any]: ...
    @property
    def load_info(self) -> dict[str, Any]: ...
    def encode(self, image: _Array, cancel: Optional[CancelToken] = None) -> Encoding: ...
    def encode_with_store(
        self, image: _Array, store: Optional[Store], cancel: Optional[CancelToken] = None
    ) -> tuple[Encoding, dict[str, Any]]: ...
    def segment(
        self,
        encoding: Encoding,
        *,
        points: Optional[list[Union[tuple[float, float], tuple[float, float, int]]]] = None,
        box: Optional[tuple[float, float, float, float]] = None,
        mask_input: Optional[npt.NDArray[np.float32]] = None,
        concepts: list[str] = [],
        multimask: bool = False,
        min_score: float = 0.5,
        cancel: Optional[CancelToken] = None,
    ) -> SegmentResult: ...

def label_scene(
    concept_masks: list[SegmentMask],
    object_mask: _Array,
    *,
    ring_width: int = 48,
    detail_ratio: float = 0.35,
    min_coverage: float = 0.05,
) -> dict[str, Any]: ...
