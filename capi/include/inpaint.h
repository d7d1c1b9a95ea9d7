/*
 * libinpaint C API: the library's only stable ABI.
 *
 * Conventions
 * - Every function that can fail returns an inpaint_status. On failure its out-parameters
 *   are left untouched and inpaint_last_error() holds a message naming the problem.
 * - Images are 8-bit interleaved, colour images RGB, masks one channel with 255 = hole and
 *   0 = keep (a pixel is hole when its value is above the threshold, 127 by default).
 * - Parameter structs start with struct_size. Fill them with inpaint_X_params_init(), then
 *   change fields; a NULL params pointer means "all defaults". A struct_size smaller than the
 *   library's struct (a caller built against an older header) is accepted: fields past it keep
 *   their defaults. A struct_size of 0, or larger than the library knows, is rejected.
 *   Fields are only ever appended, each starting at or after the previous version's sizeof.
 * - Ownership: what the library allocates, the caller returns with the matching
 *   inpaint_*_free() function. Every free function accepts NULL.
 * - Booleans are int: 0 is false, anything else true.
 */
#ifndef INPAINT_H
#define INPAINT_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  if defined(INPAINT_BUILDING_LIBRARY)
#    define INPAINT_API __declspec(dllexport)
#  else
#    define INPAINT_API __declspec(dllimport)
#  endif
#else
#  define INPAINT_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- status and errors */

/* Values 1..8, 10 and 11 mirror inpaint::ErrorCode. */
typedef enum inpaint_status {
  INPAINT_OK = 0,
  INPAINT_ERR_INVALID_ARGUMENT = 1, /* a parameter is NULL, out of range or inconsistent */
  INPAINT_ERR_DECODE = 2,           /* bytes are not a readable image (empty, truncated, other) */
  INPAINT_ERR_TOO_LARGE = 3,        /* an image exceeds the pixel limit (max_pixels) */
  INPAINT_ERR_IO = 4,               /* a file cannot be read or written */
  INPAINT_ERR_UNKNOWN_MODEL = 5,    /* a model spec names no registered model */
  INPAINT_ERR_PARSE = 6,            /* malformed JSON or model spec */
  INPAINT_ERR_CANCELLED = 7,        /* the caller asked to stop */
  INPAINT_ERR_INTERNAL = 8,         /* a bug or an unexpected failure in a dependency */
  INPAINT_ERR_OUT_OF_MEMORY = 9,    /* an allocation failed */
  INPAINT_ERR_UNAVAILABLE = 10,     /* a service (Redis) cannot be reached or stopped answering, or
                                       an optional backend (torch) cannot be loaded */
  INPAINT_ERR_TIMEOUT = 11          /* a bounded wait ran out (a model's concurrency limit) */
} inpaint_status;

/* The library's version, e.g. "0.1.0". Static string; never NULL. */
INPAINT_API const char *inpaint_version(void);

/* The message of the most recent failed call on the calling thread. Every function that
 * returns an inpaint_status sets it: to the message on failure, to "" on success; other
 * functions leave it alone. Each thread has its own message, so an error on one thread is
 * never seen on another. The string is valid until the next such call on this thread; never NULL. */
INPAINT_API const char *inpaint_last_error(void);

/* A short lowercase name for a status ("ok", "invalid_argument", "decode", "too_large", "io",
 * "unknown_model", "parse", "cancelled", "internal", "out_of_memory", "unavailable", "timeout"; "unknown" for other
 * values). Static string; never NULL. */
INPAINT_API const char *inpaint_status_name(inpaint_status status);

/* ---------------------------------------------------------------- memory */

/* An 8-bit interleaved image. As an input it is a view the library only reads (data must
 * stay valid during the call); as an output the library allocates data and the caller
 * releases it with inpaint_image_free(). */
typedef struct inpaint_image {
  uint8_t *data;
  int width;
  int height;
  int channels; /* 1 (mask, grey), 3 (RGB) */
  size_t stride; /* bytes from one row to the next; 0 on input means packed (width * channels) */
} inpaint_image;

/* Bytes the library allocated (an encoded image). Release with inpaint_buffer_free(). */
typedef struct inpaint_buffer {
  uint8_t *data;
  size_t size;
} inpaint_buffer;

/* Frees the pixels of a library-allocated image and zeroes the struct (the struct itself
 * belongs to the caller). NULL and an already zeroed image are fine. */
INPAINT_API void inpaint_image_free(inpaint_image *image);

/* Frees the bytes of a library-allocated buffer and zeroes the struct. NULL is fine. */
INPAINT_API void inpaint_buffer_free(inpaint_buffer *buffer);

/* Frees a string the library allocated (the char ** outputs). NULL is fine. */
INPAINT_API void inpaint_string_free(char *string);

/* ---------------------------------------------------------------- decode and encode */

typedef struct inpaint_decode_params {
  size_t struct_size;
  uint64_t max_pixels;        /* refuse larger images before allocating (TOO_LARGE); 100000000 */
  int apply_exif_orientation; /* turn JPEGs upright by their EXIF orientation tag; 1 */
} inpaint_decode_params;

/* Fills the defaults above and struct_size. */
INPAINT_API void inpaint_decode_params_init(inpaint_decode_params *params);

/* Decodes PNG or JPEG bytes (8 or 16 bit, grey, grey+alpha, RGB, RGBA) to an RGB image in
 * *out_rgb and, when out_alpha is not NULL, the alpha channel in *out_alpha (a zeroed image
 * when the source has none). bytes may be NULL only when size is 0 (which is DECODE, as are
 * truncated or unrecognised bytes). params may be NULL (defaults). Both outputs are packed and
 * library-allocated: free them with inpaint_image_free(). */
INPAINT_API inpaint_status inpaint_decode(const uint8_t *bytes, size_t size,
                                          const inpaint_decode_params *params,
                                          inpaint_image *out_rgb, inpaint_image *out_alpha);

/* Decodes a mask image to one channel: luma, or the alpha channel when the colour of a
 * grey+alpha/RGBA mask is constant. Values come back as stored (threshold them with
 * inpaint_clean_mask). Same rules as inpaint_decode; free *out_mask with inpaint_image_free(). */
INPAINT_API inpaint_status inpaint_decode_mask(const uint8_t *bytes, size_t size,
                                               const inpaint_decode_params *params,
                                               inpaint_image *out_mask);

typedef enum inpaint_format {
  INPAINT_FORMAT_PNG = 0,
  INPAINT_FORMAT_JPEG = 1
} inpaint_format;

typedef struct inpaint_encode_params {
  size_t struct_size;
  inpaint_format format; /* INPAINT_FORMAT_JPEG */
  int quality;           /* JPEG quality 1..100; 90 */
  int png_compression;   /* zlib level 0..9; 1 */
} inpaint_encode_params;

/* Fills the defaults above and struct_size. */
INPAINT_API void inpaint_encode_params_init(inpaint_encode_params *params);

/* Encodes an RGB (3) or grey (1) image. alpha may be NULL (or have NULL data) for none;
 * otherwise it is one channel of the image's size and the PNG gets an alpha channel (JPEG
 * cannot hold one: INVALID_ARGUMENT). params may be NULL (defaults: JPEG, quality 90).
 * Free *out with inpaint_buffer_free(). */
INPAINT_API inpaint_status inpaint_encode(const inpaint_image *image, const inpaint_image *alpha,
                                          const inpaint_encode_params *params,
                                          inpaint_buffer *out);

/* Writes size bytes to path through a temporary file beside it that is renamed over path, so
 * a reader never sees a partial file and a failure (IO) leaves nothing behind. data may be
 * NULL when size is 0. */
INPAINT_API inpaint_status inpaint_write_file_atomic(const char *path, const uint8_t *data,
                                                     size_t size);

/* ---------------------------------------------------------------- masks */

typedef enum inpaint_mask_backend {
  INPAINT_MASK_BACKEND_OPENCV = 0, /* CPU */
  INPAINT_MASK_BACKEND_TENSOR = 1  /* LibTorch tensor ops on `device`; same result */
} inpaint_mask_backend;

/* Mask clean-up, in this order: threshold -> open -> close -> drop small islands -> fill
 * small enclosed holes -> dilate. Sizes are in pixels; 0 disables a step. */
typedef struct inpaint_mask_params {
  size_t struct_size;
  int threshold;       /* value > threshold is hole, 0..254; 127 */
  int open_radius;     /* removes specks and thin spurs, 0..256; 2 */
  int close_radius;    /* closes small gaps and notches, 0..256; 2 */
  int min_island_area; /* hole components (8-connected) smaller than this are dropped; 64 */
  int min_hole_area;   /* enclosed keep regions (4-connected) smaller than this are filled; 64 */
  int dilate_px;       /* grows the hole over the object's fringe, 0..1024; 15 */
  inpaint_mask_backend backend; /* INPAINT_MASK_BACKEND_OPENCV */
  const char *device;  /* for the tensor backend: "cpu", "cuda", "cuda:N"; NULL = "cpu" */
} inpaint_mask_params;

/* Fills the defaults above and struct_size. */
INPAINT_API void inpaint_mask_params_init(inpaint_mask_params *params);

/* Cleans a one-channel mask into a binary one (0 or 255) of the same size. params may be
 * NULL (defaults). Free *out_mask with inpaint_image_free(). */
INPAINT_API inpaint_status inpaint_clean_mask(const inpaint_image *mask,
                                              const inpaint_mask_params *params,
                                              inpaint_image *out_mask);

/* Compositing weights for a cleaned mask: 255 inside the hole, a smooth (Gaussian) fall-off
 * over feather_px (0..1024) pixels outside it, 0 beyond. Free *out_weights with
 * inpaint_image_free(). */
INPAINT_API inpaint_status inpaint_feather_mask(const inpaint_image *clean_mask, int feather_px,
                                                inpaint_image *out_weights);

/* ---------------------------------------------------------------- prompts and label wait */

typedef struct inpaint_prompt_params {
  size_t struct_size;
  const char *prompt_table_path; /* JSON {"surfaces": {...}, "fallback": "..."} extending the
                                    built-in table; NULL = built-in table only */
  double min_confidence;         /* labels below this confidence are ignored, 0..1; 0.5 */
} inpaint_prompt_params;

/* Fills the defaults above and struct_size. */
INPAINT_API void inpaint_prompt_params_init(inpaint_prompt_params *params);

/* Builds the fill prompt from scene labels JSON such as
 * {"surface": "grass", "detail": "patchy grass", "confidence": 0.87}. labels_json may be NULL
 * (no labels). The fallback prompt is used when labels are absent, name an unknown surface or
 * are below min_confidence; *out_from_labels (may be NULL) tells which. Malformed JSON is
 * PARSE, an unreadable table file IO. Free *out_prompt with inpaint_string_free(). */
INPAINT_API inpaint_status inpaint_build_prompt(const char *labels_json,
                                                const inpaint_prompt_params *params,
                                                char **out_prompt, int *out_from_labels);

/* What the fill service does with a job whose scene labels may not have arrived yet. */
typedef enum inpaint_label_wait_decision {
  INPAINT_LABEL_WAIT = 0,                  /* answer 500 so the job is redelivered later */
  INPAINT_LABEL_PROCEED_WITH_LABELS = 1,   /* build the prompt from the labels */
  INPAINT_LABEL_PROCEED_WITH_FALLBACK = 2, /* waited long enough: use the fallback prompt */
  INPAINT_LABEL_GIVE_UP = 3                /* redelivered too often: acknowledge and drop */
} inpaint_label_wait_decision;

typedef struct inpaint_label_wait_params {
  size_t struct_size;
  int max_wait_attempt;  /* wait while attempt <= this ...; 3 */
  double max_wait_age_s; /* ... and the job is younger than this many seconds; 60 */
  int give_up_attempt;   /* give up from this attempt on, labels or not; 5 */
} inpaint_label_wait_params;

/* Fills the defaults above and struct_size. */
INPAINT_API void inpaint_label_wait_params_init(inpaint_label_wait_params *params);

/* Decides for delivery `attempt` (1 = first) of a job `age_s` seconds old. INVALID_ARGUMENT
 * for attempt < 1, a negative or non-finite age, or give_up_attempt <= max_wait_attempt.
 * params may be NULL (defaults). */
INPAINT_API inpaint_status inpaint_decide_label_wait(int attempt, double age_s, int labels_present,
                                                     const inpaint_label_wait_params *params,
                                                     inpaint_label_wait_decision *out_decision);

/* "wait", "proceed_with_labels", "proceed_with_fallback", "give_up"; "unknown" for other
 * values. Static string; never NULL. */
INPAINT_API const char *inpaint_label_wait_decision_name(inpaint_label_wait_decision decision);

/* ---------------------------------------------------------------- models */

/* A loaded fill model. Thread-safety: immutable once created, so any number of threads may
 * use one model at the same time; free it once, after every call using it has returned. */
typedef struct inpaint_model inpaint_model;

/* Creates a model from a spec such as "patchmatch", "telea" or "ns:radius=3" ("name" or
 * "name:key=value,..."). A value that holds a comma, or starts with a quote, is written in
 * single or double quotes: "torchscript:path='/models/a,b.pt'"; inside them \\ is a backslash
 * and \' (or \" in double quotes) the quote, any other backslash stays as it is. NULL or ""
 * selects the library's default model. UNKNOWN_MODEL when no model has that name, PARSE for a
 * malformed spec (an unclosed quote, text after a closing quote, an empty key or value, a key
 * given twice), INVALID_ARGUMENT for unknown or out-of-range keys. Free *out_model with
 * inpaint_model_free(). */
INPAINT_API inpaint_status inpaint_model_create(const char *spec, inpaint_model **out_model);

/* Frees a model. NULL is fine. */
INPAINT_API void inpaint_model_free(inpaint_model *model);

/* The canonical spec of a model, e.g. "ns:radius=3". Owned by the model and valid until it is
 * freed; NULL for a NULL model. */
INPAINT_API const char *inpaint_model_spec(const inpaint_model *model);

/* Where a model runs and what loading it cost. Zeros (device "cpu") for models that load nothing. */
typedef struct inpaint_model_load_info {
  size_t struct_size;
  const char *device; /* "cpu", "cuda:0", ... (device=auto resolved); owned by the model, valid
                         until it is freed */
  double load_ms;     /* reading the file and moving the weights to the device */
  double warmup_ms;   /* the warm-up run (spec key warmup=1); 0 when none ran */
  int ready;          /* 1 once loading and warm-up have completed; inpaint_model_create returns
                         built-in models only then */
  double backend_ms;  /* loading the backend the model runs on (the torch backend: only the first
                         model that needs it pays; 0 for the others and for built-in models) */
  unsigned long long weight_bytes; /* weights resident on the device (flux reports it; 0 when unknown) */
} inpaint_model_load_info;

/* Zeroes the struct and sets struct_size. */
INPAINT_API void inpaint_model_load_info_init(inpaint_model_load_info *info);

/* Copies the load info into *out_info, whose struct_size the caller has set. */
INPAINT_API inpaint_status inpaint_model_get_load_info(const inpaint_model *model,
                                                       inpaint_model_load_info *out_info);

/* Optional backends. "torch" (TorchScript fill models, the sam segmenter, the tensor mask path)
 * lives in its own file, lib/inpaint/libinpaint_torch.so (or the file INPAINT_BACKEND_PATH
 * names), loaded at the first model that needs it; a process that never asks for one never
 * loads LibTorch. inpaint_backend_load loads it now (a service warming up): INPAINT_UNAVAILABLE,
 * with the file tried and the reason in inpaint_last_error, when it cannot be loaded;
 * INPAINT_INVALID_ARGUMENT for an unknown name. */
INPAINT_API inpaint_status inpaint_backend_load(const char *name);

/* 1 when the named backend is loaded in this process, else 0. Never loads it. */
INPAINT_API int inpaint_backend_loaded(const char *name);

/* ---- Fill models written in C (or any language with a C FFI)
 *
 * inpaint_register_model adds a model to the library's registry under `name` ([a-z0-9_-]+, not
 * taken): inpaint_model_create("name[:key=value,...]") then makes one, and inpaint_run and
 * inpaint_run_files run it with the library's decoding, mask clean-up, strategy, compositing,
 * encoding, timings, cancellation and deadlines around it. The callbacks are copied; user_data
 * must stay valid for the rest of the process (a registration is never removed). */

/* One fill: the library owns every buffer, valid for the length of the call. */
typedef struct inpaint_fill_call {
  size_t struct_size;
  const inpaint_image *image; /* RGB, read-only */
  const inpaint_image *mask;  /* one channel of the image's size, read-only: 255 = hole, 0 = keep */
  const char *prompt;         /* UTF-8, "" when none */
  inpaint_image *out;         /* RGB of the image's size, packed: write the hole's pixels (the
                                 others are ignored; the library keeps the original there) */
} inpaint_fill_call;

typedef struct inpaint_model_callbacks {
  size_t struct_size;
  /* Optional. Makes one model's state from its spec's parameters (count UTF-8 key/value pairs,
   * sorted by key): return INPAINT_OK and set *out_state, or an error status and a message
   * written into error (error_size bytes, NUL-terminated). NULL: the model takes no parameters
   * and every model's state is user_data. */
  inpaint_status (*create)(void *user_data, size_t count, const char *const *keys, const char *const *values,
                           void **out_state, char *error, size_t error_size);
  /* Required. Fills call->out; returns INPAINT_OK, or an error status and a message in error.
   * It may be called from several library threads at once for one model. */
  inpaint_status (*fill)(void *state, const inpaint_fill_call *call, char *error, size_t error_size);
  /* Optional. Frees a state that create made, when its model is freed. */
  void (*destroy)(void *state);
} inpaint_model_callbacks;

/* Zeroes the struct and sets struct_size. */
INPAINT_API void inpaint_model_callbacks_init(inpaint_model_callbacks *callbacks);

/* INPAINT_ERR_INVALID_ARGUMENT for a bad or taken name or a missing fill callback. A status the
 * callbacks return comes back from inpaint_model_create or inpaint_run with their message
 * (prefixed with the model's name); INPAINT_ERR_OUT_OF_MEMORY from fill is reported as the
 * pipeline reports running out of memory. */
INPAINT_API inpaint_status inpaint_register_model(const char *name, const char *description,
                                                  const inpaint_model_callbacks *callbacks, void *user_data);

/* 1 when the model has finished loading (and warming up) and can run; 0 for NULL. */
INPAINT_API int inpaint_model_ready(const inpaint_model *model);

/* The number of registered models (the built-in ones included). */
INPAINT_API inpaint_status inpaint_model_list_size(size_t *out_count);

/* The name and one-line description of registered model `index` (0-based, sorted by name).
 * Either output may be NULL; free the strings with inpaint_string_free(). INVALID_ARGUMENT
 * when index is out of range. */
INPAINT_API inpaint_status inpaint_model_list_get(size_t index, char **out_name,
                                                  char **out_description);

/* The spec keys model `index` takes: their number, and key `key_index` (0-based, in the order
 * the model documents them) as its name (e.g. "radius") and a short doc (range or choices and
 * the default, e.g. "neighbourhood radius in px, 1..64 (5)"). Any other key makes
 * inpaint_model_create fail with INVALID_ARGUMENT. Either string output may be NULL; free the
 * strings with inpaint_string_free(). INVALID_ARGUMENT when an index is out of range. */
INPAINT_API inpaint_status inpaint_model_list_key_count(size_t index, size_t *out_count);
INPAINT_API inpaint_status inpaint_model_list_key_get(size_t index, size_t key_index, char **out_key,
                                                      char **out_doc);

/* ---------------------------------------------------------------- per-call model parameters */

/* The type of a per-call parameter a model declares. */
typedef enum inpaint_param_type {
  INPAINT_PARAM_BOOL = 0,
  INPAINT_PARAM_INT = 1,
  INPAINT_PARAM_FLOAT = 2,
  INPAINT_PARAM_STRING = 3
} inpaint_param_type;

/* "bool", "int", "float", "string"; "unknown" for other values. Static string; never NULL. */
INPAINT_API const char *inpaint_param_type_name(inpaint_param_type type);

/* One per-call parameter a model takes (seed, steps, guidance, ...). */
typedef struct inpaint_param_info {
  size_t struct_size;
  const char *name;          /* [a-z0-9_]+; owned by the model, valid until it is freed */
  inpaint_param_type type;
  const char *default_value; /* as text ("true", "42", "0.5", or the string); owned by the model */
  double min_value;          /* inclusive range of INT and FLOAT values; -HUGE_VAL/HUGE_VAL when open */
  double max_value;
  const char *doc;           /* one line; owned by the model */
} inpaint_param_info;

/* Zeroes the struct and sets struct_size. */
INPAINT_API void inpaint_param_info_init(inpaint_param_info *info);

/* How many per-call parameters a model declares (0 for most classical models). */
INPAINT_API inpaint_status inpaint_model_param_count(const inpaint_model *model, size_t *out_count);

/* Copies declaration `index` (0-based, in the model's order) into *out_info, whose struct_size
 * the caller has set. INVALID_ARGUMENT when index is out of range. */
INPAINT_API inpaint_status inpaint_model_param_get(const inpaint_model *model, size_t index,
                                                   inpaint_param_info *out_info);

/* A per-call parameter given to a run: its value as text, read as the type the model declares
 * ("true"/"false"/"1"/"0" for BOOL, a decimal integer for INT, a finite decimal number for
 * FLOAT, any text for STRING, commas and '=' included). Both strings are borrowed for the call. */
typedef struct inpaint_param {
  const char *key;
  const char *value;
} inpaint_param;

/* ---------------------------------------------------------------- pipeline */

/* How the model sees a large photo. */
typedef enum inpaint_strategy {
  INPAINT_STRATEGY_AUTO = 0,     /* CROP when the long side exceeds crop_trigger, else ORIGINAL */
  INPAINT_STRATEGY_ORIGINAL = 1, /* the whole image at native resolution */
  INPAINT_STRATEGY_CROP = 2,     /* one box per hole region grown by crop_margin, native size */
  INPAINT_STRATEGY_RESIZE = 3    /* long side scaled to resize_long_side, run, scaled back */
} inpaint_strategy;

/* ---------------------------------------------------------------- run control */

/* A cancel flag and a deadline for runs (inpaint_pipeline_params.control). They are checked
 * between pipeline stages and between iterations of iterative models; a cancelled run returns
 * INPAINT_ERR_CANCELLED, one past its deadline INPAINT_ERR_TIMEOUT. Thread-safety:
 * inpaint_run_control_cancel may be called from any thread and from a signal handler while a
 * run uses the control; set the timeout before the run starts; free it after the runs end. */
typedef struct inpaint_run_control inpaint_run_control;

INPAINT_API inpaint_status inpaint_run_control_new(inpaint_run_control **out_control);
/* Accepts NULL. */
INPAINT_API void inpaint_run_control_free(inpaint_run_control *control);
/* Asks every run using this control to stop. Async-signal-safe; accepts NULL. */
INPAINT_API void inpaint_run_control_cancel(inpaint_run_control *control);
/* 1 after inpaint_run_control_cancel, else 0 (also for NULL). */
INPAINT_API int inpaint_run_control_cancelled(const inpaint_run_control *control);
/* The deadline becomes now + timeout_ms. */
INPAINT_API inpaint_status inpaint_run_control_set_timeout_ms(inpaint_run_control *control, uint64_t timeout_ms);

/* Called with the fraction done (0..1] after each iteration of iterative models (PatchMatch),
 * on the thread running the model; return 0 to stop the run (INPAINT_ERR_CANCELLED), non-zero to
 * go on. With the CROP strategy each region reports 0..1 anew. */
typedef int (*inpaint_progress_fn)(double fraction, void *user_data);
/* Sets the progress callback of the runs using this control (NULL clears it); user_data is
 * handed back to it. Set it before the runs start. */
INPAINT_API inpaint_status inpaint_run_control_set_progress(inpaint_run_control *control, inpaint_progress_fn progress,
                                                            void *user_data);

typedef struct inpaint_pipeline_params {
  size_t struct_size;
  int clean;                       /* clean the mask (else only threshold it); 1 */
  const inpaint_mask_params *mask; /* clean-up and threshold settings; NULL = defaults */
  int resize_mask;                 /* scale a mask of another size (else INVALID_ARGUMENT); 0 */
  inpaint_strategy strategy;       /* INPAINT_STRATEGY_AUTO */
  int crop_trigger;                /* long side above which AUTO crops, 1..1048576; 800 */
  int crop_margin;                 /* context around each hole for CROP, 0..65536; 128 */
  int resize_long_side;            /* model resolution for RESIZE, 16..65536; 1280 */
  int feather_px;                  /* blend width outside the hole, 0..1024 (0 = hard); 8 */
  inpaint_format output_format;    /* INPAINT_FORMAT_JPEG (inpaint_run only) */
  int quality;                     /* JPEG quality of the result, 1..100; 90 */
  int preview_long_side;           /* > 0: also encode a preview this long, 0..65536; 0 */
  int preview_quality;             /* JPEG quality of the preview, 1..100; 85 */
  uint64_t max_pixels;             /* decode limit for image and mask (TOO_LARGE); 100000000 */
  int apply_exif_orientation;      /* turn JPEG inputs upright; 1 */
  const char *prompt;              /* handed to prompt-conditioned models; NULL = "" */
  inpaint_run_control *control;    /* cancel flag and deadline; NULL = run to the end */
  /* Per-call model parameters, param_count of them (params may be NULL when 0); borrowed for the
   * call. Checked against the model's declarations before any decoding: a key the model does not
   * declare, a value not of its type or out of its range, or a key given twice is
   * INVALID_ARGUMENT naming it. Parameters not given take the model's defaults. */
  const inpaint_param *params;     /* NULL */
  size_t param_count;              /* 0 */
} inpaint_pipeline_params;

/* Fills the defaults above and struct_size. */
INPAINT_API void inpaint_pipeline_params_init(inpaint_pipeline_params *params);

/* Milliseconds per stage of one run. The mask is decoded, checked and cleaned on a second
 * thread while the photo decodes, so those stages overlap decode; total is the wall time.
 * The caller sets struct_size (inpaint_timings_init) so that the library fills only the
 * fields the caller's struct has. */
typedef struct inpaint_timings {
  size_t struct_size;
  double decode;    /* photo bytes to pixels */
  double orient;    /* EXIF orientation */
  double mask;      /* mask bytes to pixels, size check, resize */
  double clean;     /* morphology, islands, holes, dilation, feathering */
  double model;     /* the fill model, strategy crops and resizes included */
  double composite; /* feathered paste into the original */
  double encode;    /* encoding the result */
  double preview;   /* scaling and encoding the preview (beside the result, on another thread) */
  double total;     /* the whole run (reading and writing files not included) */
} inpaint_timings;

/* Zeroes the timings and sets struct_size. */
INPAINT_API void inpaint_timings_init(inpaint_timings *timings);

/* The outcome of inpaint_run. Thread-safety: immutable, so any threads may read it at once;
 * free it once, after the reads. */
typedef struct inpaint_result inpaint_result;

/* Runs the whole path on encoded bytes: decode -> orient -> mask check -> clean -> strategy ->
 * model -> feathered composite -> encode (+ preview). Outside the feathered hole the result
 * equals the input exactly (for PNG output). An empty mask gives the input back, with
 * inpaint_result_mask_empty() set. Errors in the mask bytes carry a "mask: " prefix. params
 * may be NULL (defaults). Free *out_result with inpaint_result_free(). */
INPAINT_API inpaint_status inpaint_run(const inpaint_model *model, const uint8_t *image_bytes,
                                       size_t image_size, const uint8_t *mask_bytes,
                                       size_t mask_size, const inpaint_pipeline_params *params,
                                       inpaint_result **out_result);

/* inpaint_run on files: reads image_path and mask_path, writes the result to out_path and,
 * when preview_path is not NULL, a preview preview_long_side (which must then be > 0) pixels
 * long to preview_path. Each format follows its path's extension (.png, .jpg, .jpeg; others
 * are INVALID_ARGUMENT), so params->output_format is not used. Files are written atomically;
 * on any error no output file is left behind. Before any work, an output that is the same file
 * as an input or as the other output is INVALID_ARGUMENT, one that names a device, directory
 * or FIFO is IO; an input that is not a regular file is IO (never a blocked call). A full
 * disk or a file size limit while writing is IO and leaves both paths as they were.
 * out_timings (may be NULL) gets the stage times. */
INPAINT_API inpaint_status inpaint_run_files(const inpaint_model *model, const char *image_path,
                                             const char *mask_path, const char *out_path,
                                             const char *preview_path,
                                             const inpaint_pipeline_params *params,
                                             inpaint_timings *out_timings);

/* Frees a result. NULL is fine. */
INPAINT_API void inpaint_result_free(inpaint_result *result);

/* The encoded result (in params->output_format) and its size in *out_size (may be NULL).
 * Owned by the result. NULL (size 0) for a NULL result. */
INPAINT_API const uint8_t *inpaint_result_output(const inpaint_result *result, size_t *out_size);

/* The encoded JPEG preview, or NULL (size 0) when none was asked for. Owned by the result. */
INPAINT_API const uint8_t *inpaint_result_preview(const inpaint_result *result, size_t *out_size);

/* The result's size in pixels (that of the upright input); 0 for a NULL result. */
INPAINT_API int inpaint_result_width(const inpaint_result *result);
INPAINT_API int inpaint_result_height(const inpaint_result *result);

/* The strategy that ran (AUTO resolved to ORIGINAL or CROP); AUTO for a NULL result. */
INPAINT_API inpaint_strategy inpaint_result_strategy(const inpaint_result *result);

/* 1 when the cleaned mask had no hole (the output is the input), else 0. */
INPAINT_API int inpaint_result_mask_empty(const inpaint_result *result);

/* The prompt the model was handed, and why when the model substituted another for the prompt
 * given (flux with missing_prompt=fallback and a prompt its table lacks; "" otherwise). Owned by
 * the result; "" for a NULL result. */
INPAINT_API const char *inpaint_result_model_prompt(const inpaint_result *result);
INPAINT_API const char *inpaint_result_model_prompt_reason(const inpaint_result *result);

/* Copies the stage times into *out_timings, whose struct_size the caller has set. */
INPAINT_API inpaint_status inpaint_result_timings(const inpaint_result *result,
                                                  inpaint_timings *out_timings);

/* ---------------------------------------------------------------- encodings */

/* Element types of safetensors (the names inpaint_dtype_name gives: "BOOL", "U8", ... "F8_E8M0"). */
typedef enum inpaint_dtype {
  INPAINT_DTYPE_BOOL = 0,
  INPAINT_DTYPE_U8 = 1,
  INPAINT_DTYPE_I8 = 2,
  INPAINT_DTYPE_U16 = 3,
  INPAINT_DTYPE_I16 = 4,
  INPAINT_DTYPE_U32 = 5,
  INPAINT_DTYPE_I32 = 6,
  INPAINT_DTYPE_U64 = 7,
  INPAINT_DTYPE_I64 = 8,
  INPAINT_DTYPE_F16 = 9,
  INPAINT_DTYPE_BF16 = 10,
  INPAINT_DTYPE_F32 = 11,
  INPAINT_DTYPE_F64 = 12,
  INPAINT_DTYPE_F8_E4M3 = 13,
  INPAINT_DTYPE_F8_E5M2 = 14,
  INPAINT_DTYPE_F8_E8M0 = 15
} inpaint_dtype;

/* "F32", ...; "unknown" for other values. Static string; never NULL. */
INPAINT_API const char *inpaint_dtype_name(inpaint_dtype dtype);
/* Bytes per element; 0 for unknown values. */
INPAINT_API size_t inpaint_dtype_size(inpaint_dtype dtype);

/* An encoder's named feature tensors plus the metadata that decides whether they may be
 * reused. Thread-safety: an encoding that no call modifies may be read by any threads at once;
 * inpaint_encoding_add_tensor must not run beside other calls on the same encoding. */
typedef struct inpaint_encoding inpaint_encoding;

typedef struct inpaint_encoding_metadata {
  size_t struct_size;
  const char *model_id;       /* e.g. "sam3-hiera-l"; NULL = "" */
  const char *model_checksum; /* the weights' checksum; NULL = "" */
  const char *preprocessing;  /* e.g. "resize=1008,pad"; NULL = "" */
  const char *dtype;          /* the features' dtype name, e.g. "BF16"; NULL = "" */
  const char *image_sha256;   /* inpaint_pixel_sha256 of the decoded image; NULL = "" */
  int original_width;         /* 0 */
  int original_height;        /* 0 */
  int64_t created_at;         /* Unix seconds; 0 */
  int format_version;         /* the library's format version (1) */
} inpaint_encoding_metadata;

/* Fills the defaults above and struct_size. */
INPAINT_API void inpaint_encoding_metadata_init(inpaint_encoding_metadata *metadata);

/* Creates an encoding with no tensors. metadata may be NULL (defaults). Free *out_encoding
 * with inpaint_encoding_free(). */
INPAINT_API inpaint_status inpaint_encoding_create(const inpaint_encoding_metadata *metadata,
                                                   inpaint_encoding **out_encoding);

/* Frees an encoding. NULL is fine. Tensor data handed out by it becomes invalid. */
INPAINT_API void inpaint_encoding_free(inpaint_encoding *encoding);

/* Copies size bytes of a tensor into the encoding under name (replacing one of that name).
 * size must equal the shape's element count times inpaint_dtype_size(dtype); ndim may be 0 (a
 * scalar; shape may then be NULL). INVALID_ARGUMENT otherwise, or for an empty or reserved
 * ("__metadata__") name. */
INPAINT_API inpaint_status inpaint_encoding_add_tensor(inpaint_encoding *encoding, const char *name,
                                                       inpaint_dtype dtype, const int64_t *shape, size_t ndim,
                                                       const void *data, size_t size);

/* Copies the metadata into *out_metadata, whose struct_size the caller has set. The strings
 * are owned by the encoding and valid until it is freed. */
INPAINT_API inpaint_status inpaint_encoding_get_metadata(const inpaint_encoding *encoding,
                                                         inpaint_encoding_metadata *out_metadata);

/* The number of tensors; 0 for NULL. */
INPAINT_API size_t inpaint_encoding_tensor_count(const inpaint_encoding *encoding);

/* A tensor of an encoding. Every pointer is owned by the encoding and valid until it is
 * freed; data is read-only. */
typedef struct inpaint_tensor_info {
  size_t struct_size;
  const char *name;
  inpaint_dtype dtype;
  size_t ndim;
  const int64_t *shape; /* ndim values */
  const void *data;
  size_t size;          /* bytes */
} inpaint_tensor_info;

/* Zeroes the struct and sets struct_size. */
INPAINT_API void inpaint_tensor_info_init(inpaint_tensor_info *info);

/* Tensor `index` (0-based, sorted by name). INVALID_ARGUMENT when out of range. */
INPAINT_API inpaint_status inpaint_encoding_tensor(const inpaint_encoding *encoding, size_t index,
                                                   inpaint_tensor_info *out_info);

/* The tensor called name. INVALID_ARGUMENT naming the tensors there are when none is. */
INPAINT_API inpaint_status inpaint_encoding_find_tensor(const inpaint_encoding *encoding, const char *name,
                                                        inpaint_tensor_info *out_info);

/* Reads a safetensors file into one buffer (read, not mapped: a mapped file truncated by another
 * process would kill this one with SIGBUS). IO when it cannot be opened, DECODE naming the tensor
 * and the broken rule when it is malformed or not a regular file (a FIFO is never waited on). */
INPAINT_API inpaint_status inpaint_encoding_read_file(const char *path, inpaint_encoding **out_encoding);

/* Writes a safetensors file atomically (temporary file, flush, rename). */
INPAINT_API inpaint_status inpaint_encoding_write_file(const inpaint_encoding *encoding, const char *path);

/* The safetensors bytes. Free *out with inpaint_buffer_free(). */
INPAINT_API inpaint_status inpaint_encoding_to_bytes(const inpaint_encoding *encoding, inpaint_buffer *out);

/* Parses safetensors bytes (copied; the caller's buffer may go right after). */
INPAINT_API inpaint_status inpaint_encoding_from_bytes(const uint8_t *bytes, size_t size,
                                                       inpaint_encoding **out_encoding);

/* The hex SHA-256 of decoded pixels (with their size and channels), for image_sha256. Free
 * *out_sha256 with inpaint_string_free(). */
INPAINT_API inpaint_status inpaint_pixel_sha256(const inpaint_image *pixels, char **out_sha256);

/* The store id of an image's encoding by a model: derived from the pixels' hash and model_id
 * (non-empty). Free *out_id with inpaint_string_free(). */
INPAINT_API inpaint_status inpaint_encoding_id(const inpaint_image *pixels, const char *model_id, char **out_id);

/* OK when id may be used as an id: 1..128 characters of [A-Za-z0-9._-], no leading dot;
 * INVALID_ARGUMENT saying why not. */
INPAINT_API inpaint_status inpaint_validate_encoding_id(const char *id);

/* ---------------------------------------------------------------- encoding stores */

/* A store of encodings, opened from a spec:
 *   "memory:capacity=512MB"                       in this process, LRU bounded in bytes
 *   "dir:path=/var/cache/enc,capacity=10GB"       safetensors files shared by processes (fsync=0 to skip flushing)
 *   "redis://127.0.0.1:6379/0?prefix=enc:&ttl=3600"  Redis (timeout_ms, retry_ms, chunk keys too)
 *   "memory:capacity=1GB|dir:path=/var/cache/enc|redis://cache:6379"  tiers, fastest first
 * Values are quoted as in model specs (inpaint_model_create) when they hold ',', '&' or '|':
 * "dir:path='/var/cache/a|b,c'".
 * Thread-safety: any threads may use one store at once; free it once, after every call. */
typedef struct inpaint_store inpaint_store;

/* PARSE for a malformed spec, INVALID_ARGUMENT for unknown keys or bad values, IO when a
 * directory cannot be created. Redis connects on first use. Free with inpaint_store_free(). */
INPAINT_API inpaint_status inpaint_store_open(const char *spec, inpaint_store **out_store);

/* Frees a store. NULL is fine. */
INPAINT_API void inpaint_store_free(inpaint_store *store);

/* The canonical spec; owned by the store. NULL for a NULL store. */
INPAINT_API const char *inpaint_store_spec(const inpaint_store *store);

/* Every id is checked like inpaint_validate_encoding_id (INVALID_ARGUMENT). A store that cannot
 * be reached gives UNAVAILABLE; a tiered store only when no tier answers. */
INPAINT_API inpaint_status inpaint_store_exists(inpaint_store *store, const char *id, int *out_exists);

/* *out_encoding is the stored encoding, or NULL for a miss (a miss is INPAINT_OK; a corrupt
 * entry is a miss, removed). Free it with inpaint_encoding_free(). */
INPAINT_API inpaint_status inpaint_store_get(inpaint_store *store, const char *id, inpaint_encoding **out_encoding);

/* Stores or replaces the encoding under id. TOO_LARGE when it exceeds the store's capacity. */
INPAINT_API inpaint_status inpaint_store_put(inpaint_store *store, const char *id, const inpaint_encoding *encoding);

/* Removes id; *out_removed (may be NULL) tells whether there was something to remove. */
INPAINT_API inpaint_status inpaint_store_remove(inpaint_store *store, const char *id, int *out_removed);

/* Entries and bytes held (either output may be NULL). Walks the whole store. */
INPAINT_API inpaint_status inpaint_store_usage(inpaint_store *store, uint64_t *out_entries, uint64_t *out_bytes);

/* The byte bound; 0 when the store sets none (Redis). 0 for NULL. */
INPAINT_API uint64_t inpaint_store_capacity(const inpaint_store *store);

/* The ids held, sorted: *out_ids is an array of *out_count strings. Free it with
 * inpaint_string_list_free(*out_ids, *out_count). */
INPAINT_API inpaint_status inpaint_store_ids(inpaint_store *store, char ***out_ids, size_t *out_count);

/* Frees a string array the library allocated. NULL is fine. */
INPAINT_API void inpaint_string_list_free(char **strings, size_t count);

/* Counters of a store (or of one tier of a tiered store) since it was opened. */
typedef struct inpaint_store_stats {
  size_t struct_size;
  uint64_t hits;
  uint64_t misses;
  uint64_t puts;
  uint64_t removes;
  uint64_t evictions;     /* dropped to stay within capacity */
  uint64_t corrupt;       /* unreadable entries found and removed */
  uint64_t errors;        /* failed operations; for a tier: the times it was skipped */
  char last_error[256];   /* the latest failure's message (truncated), "" when none */
} inpaint_store_stats;

/* Zeroes the struct and sets struct_size. */
INPAINT_API void inpaint_store_stats_init(inpaint_store_stats *stats);

/* The number of tiers: 0 for a store that is not tiered. */
INPAINT_API size_t inpaint_store_tier_count(const inpaint_store *store);

/* tier 0 is the whole store; 1..inpaint_store_tier_count() are its tiers, fastest first.
 * INVALID_ARGUMENT for other values. */
INPAINT_API inpaint_status inpaint_store_stats_get(const inpaint_store *store, size_t tier,
                                                   inpaint_store_stats *out_stats);

/* ---------------------------------------------------------------- segmentation */

/* A segmenter: encodes an image once (expensive, cacheable), then answers many prompts from the
 * encoding (cheap). Thread-safety: immutable once created; any threads may use one at once. */
typedef struct inpaint_segmenter inpaint_segmenter;

/* Creates a segmenter from a spec: "grabcut" (OpenCV GrabCut, no model file) or
 * "sam:encoder=FILE,decoder=FILE[,concept_decoder=FILE,concepts=FILE][,preprocess=sam1|sam2]...".
 * NULL or "" selects the default (grabcut). UNKNOWN_MODEL, PARSE, INVALID_ARGUMENT, IO and DECODE
 * (a file that is not TorchScript) as for models. Free with inpaint_segmenter_free(). */
INPAINT_API inpaint_status inpaint_segmenter_create(const char *spec, inpaint_segmenter **out_segmenter);

/* Frees a segmenter. NULL is fine. */
INPAINT_API void inpaint_segmenter_free(inpaint_segmenter *segmenter);

/* The canonical spec and the model id that keys stored encodings. Owned by the segmenter; NULL
 * for a NULL segmenter. */
INPAINT_API const char *inpaint_segmenter_spec(const inpaint_segmenter *segmenter);
INPAINT_API const char *inpaint_segmenter_model_id(const inpaint_segmenter *segmenter);

/* What a segmenter's prompts may hold. */
typedef struct inpaint_segmenter_capabilities {
  size_t struct_size;
  int points;           /* clicks */
  int boxes;            /* a box */
  int mask_input;       /* a previous mask's low-resolution logits */
  int multimask;        /* several candidates per prompt */
  size_t concept_count; /* concept labels it can segment (inpaint_segmenter_concept) */
} inpaint_segmenter_capabilities;

/* Zeroes the struct and sets struct_size. */
INPAINT_API void inpaint_segmenter_capabilities_init(inpaint_segmenter_capabilities *capabilities);
INPAINT_API inpaint_status inpaint_segmenter_get_capabilities(const inpaint_segmenter *segmenter,
                                                              inpaint_segmenter_capabilities *out_capabilities);
/* Concept label `index` (0-based, sorted), owned by the segmenter; NULL when out of range. */
INPAINT_API const char *inpaint_segmenter_concept(const inpaint_segmenter *segmenter, size_t index);

/* The number of segmenters and the name and description of segmenter `index` (sorted by name);
 * free the strings with inpaint_string_free(). The keys each takes, as for models
 * (inpaint_model_list_key_count / _key_get). */
INPAINT_API inpaint_status inpaint_segmenter_list_size(size_t *out_count);
INPAINT_API inpaint_status inpaint_segmenter_list_get(size_t index, char **out_name, char **out_description);
INPAINT_API inpaint_status inpaint_segmenter_list_key_count(size_t index, size_t *out_count);
INPAINT_API inpaint_status inpaint_segmenter_list_key_get(size_t index, size_t key_index, char **out_key,
                                                          char **out_doc);

/* What inpaint_segmenter_encode did with the store. */
typedef struct inpaint_encode_outcome {
  size_t struct_size;
  char id[160];          /* the encoding's store id */
  int from_store;        /* found and reusable: no encoder ran */
  int stored;            /* a fresh encoding was put into the store */
  char store_error[256]; /* a store failure that was ignored (truncated), "" when none */
  double encode_ms;      /* 0 when it came from the store */
} inpaint_encode_outcome;

/* Zeroes the struct and sets struct_size. */
INPAINT_API void inpaint_encode_outcome_init(inpaint_encode_outcome *outcome);

/* The encoding of an RGB image. With a store (may be NULL) it is taken from the store when the
 * store holds a reusable one (same model, checksum, preprocessing and pixels), else encoded and
 * put there; a store failure never fails the call (see out_outcome->store_error). control (may be
 * NULL) cancels. out_outcome may be NULL. Free *out_encoding with inpaint_encoding_free(). */
INPAINT_API inpaint_status inpaint_segmenter_encode(const inpaint_segmenter *segmenter, const inpaint_image *image,
                                                    inpaint_store *store, inpaint_run_control *control,
                                                    inpaint_encoding **out_encoding,
                                                    inpaint_encode_outcome *out_outcome);

/* A click in image pixels. */
typedef struct inpaint_point {
  double x;
  double y;
  int positive; /* 1: the object; 0: background */
} inpaint_point;

typedef struct inpaint_segment_params {
  size_t struct_size;
  const inpaint_point *points;   /* point_count clicks; NULL when point_count is 0 */
  size_t point_count;
  int has_box;                   /* 0 */
  double box[4];                 /* x0, y0, x1, y1 in image pixels, when has_box */
  const float *mask_input;       /* 256*256 logits of a previous mask (low_res_logits); NULL = none */
  const char *const *concepts;   /* concept_count labels; NULL when concept_count is 0 */
  size_t concept_count;
  int multimask;                 /* all candidates, best first, instead of the best; 0 */
  double min_score;              /* concept instances below this are dropped; 0.5 */
  inpaint_run_control *control;  /* NULL */
} inpaint_segment_params;

/* Fills the defaults above and struct_size. */
INPAINT_API void inpaint_segment_params_init(inpaint_segment_params *params);

/* The masks of one prompt. Thread-safety: immutable; free it once, after the reads. */
typedef struct inpaint_segmentation inpaint_segmentation;

/* Segments from an encoding this segmenter made (INVALID_ARGUMENT for another model's, for a
 * prompt it cannot take, for an empty prompt). Free *out_segmentation with
 * inpaint_segmentation_free(). */
INPAINT_API inpaint_status inpaint_segment(const inpaint_segmenter *segmenter, const inpaint_encoding *encoding,
                                           const inpaint_segment_params *params,
                                           inpaint_segmentation **out_segmentation);

/* Frees a segmentation. NULL is fine. */
INPAINT_API void inpaint_segmentation_free(inpaint_segmentation *segmentation);

/* The number of masks (by decreasing score); 0 for NULL. */
INPAINT_API size_t inpaint_segmentation_count(const inpaint_segmentation *segmentation);

/* One mask. Every pointer is owned by the segmentation and valid until it is freed. */
typedef struct inpaint_segment_mask {
  size_t struct_size;
  inpaint_image mask;           /* one channel, the image's size, 255 = object (read-only) */
  double score;                 /* predicted IoU, or the instance score for concepts */
  int box[4];                   /* x, y, width, height of the mask's pixels; zeros when empty */
  const char *label;            /* the concept, "" for points and boxes */
  const float *low_res_logits;  /* 256*256 model-space logits to pass back as mask_input, or NULL */
} inpaint_segment_mask;

/* Zeroes the struct and sets struct_size. */
INPAINT_API void inpaint_segment_mask_init(inpaint_segment_mask *mask);

/* Mask `index` (0-based). INVALID_ARGUMENT when out of range. */
INPAINT_API inpaint_status inpaint_segmentation_mask(const inpaint_segmentation *segmentation, size_t index,
                                                     inpaint_segment_mask *out_mask);

/* ---------------------------------------------------------------- scene labels */

typedef struct inpaint_label_params {
  size_t struct_size;
  int ring_width;      /* pixels of ground measured around the object, 1..65536; 48 */
  double detail_ratio; /* a second surface this strong joins the detail phrase, 0..1; 0.35 */
  double min_coverage; /* a dominant surface covering less of the ring names nothing, 0..1; 0.05 */
} inpaint_label_params;

/* Fills the defaults above and struct_size. */
INPAINT_API void inpaint_label_params_init(inpaint_label_params *params);

/* Names the ground around an object from the concept masks of a segmentation (concept prompts
 * with surface labels): *out_json is the scene-labels JSON the prompt builder reads,
 * {"surface", "detail", "confidence", "labeledAt"}. object_mask: one channel, the masks' size,
 * 255 = object. Free *out_json with inpaint_string_free(). */
INPAINT_API inpaint_status inpaint_label_scene(const inpaint_segmentation *concept_masks,
                                               const inpaint_image *object_mask,
                                               const inpaint_label_params *params, char **out_json);

/* ---------------------------------------------------------------- background removal */

/* A matter: turns a photo into a soft alpha matte (255 = object, 0 = background) at the photo's
 * size. Thread-safety: immutable once created; any threads may use one at once. */
typedef struct inpaint_matter inpaint_matter;

/* Creates a matter from a spec: "saliency" (built in, no model file) or "salient:path=FILE,..."
 * (a TorchScript network; see inpaint_matter_list_key_get). NULL or "" selects the default
 * ("saliency"). UNKNOWN_MODEL, PARSE, INVALID_ARGUMENT, IO and DECODE as for models. Free
 * *out_matter with inpaint_matter_free(). */
INPAINT_API inpaint_status inpaint_matter_create(const char *spec, inpaint_matter **out_matter);

/* Frees a matter. NULL is fine. */
INPAINT_API void inpaint_matter_free(inpaint_matter *matter);

/* The canonical spec and the model id that keys stored mattes. Owned by the matter; NULL for a
 * NULL matter. */
INPAINT_API const char *inpaint_matter_spec(const inpaint_matter *matter);
INPAINT_API const char *inpaint_matter_model_id(const inpaint_matter *matter);

/* Where the matter runs and what loading it cost (as for models; ready is 1 once created). The
 * device string is owned by the matter. */
INPAINT_API inpaint_status inpaint_matter_get_load_info(const inpaint_matter *matter,
                                                        inpaint_model_load_info *out_info);

/* The number of matters and the name and description of matter `index` (sorted by name); free
 * the strings with inpaint_string_free(). The spec keys each takes, as for models
 * (inpaint_model_list_key_count / _key_get). */
INPAINT_API inpaint_status inpaint_matter_list_size(size_t *out_count);
INPAINT_API inpaint_status inpaint_matter_list_get(size_t index, char **out_name, char **out_description);
INPAINT_API inpaint_status inpaint_matter_list_key_count(size_t index, size_t *out_count);
INPAINT_API inpaint_status inpaint_matter_list_key_get(size_t index, size_t key_index, char **out_key,
                                                       char **out_doc);

/* The matte of an RGB image: one channel of its size, 255 = object. control (may be NULL)
 * cancels. Free *out_alpha with inpaint_image_free(). */
INPAINT_API inpaint_status inpaint_matte(const inpaint_matter *matter, const inpaint_image *rgb,
                                         inpaint_run_control *control, inpaint_image *out_alpha);

/* Edge-aware refinement of a matte: a guided filter with the photo's luminance as guide.
 * radius 1..256 px, eps > 0 (1e-4 is a good start; larger = smoother). alpha: one channel of
 * rgb's size. Free *out_alpha with inpaint_image_free(). */
INPAINT_API inpaint_status inpaint_refine_alpha(const inpaint_image *rgb, const inpaint_image *alpha, int radius,
                                                double eps, inpaint_image *out_alpha);

/* The object's own colour in semi-transparent pixels (background bleeding removed), so that an
 * RGBA cut-out shows no halo on any background. Free *out_rgb with inpaint_image_free(). */
INPAINT_API inpaint_status inpaint_estimate_foreground(const inpaint_image *rgb, const inpaint_image *alpha,
                                                       inpaint_image *out_rgb);

/* ---- effects */

/* The effects' names, in their order: "color", "bw", "popart", "dither". Static strings;
 * inpaint_effect_name gives NULL when index is out of range. */
INPAINT_API size_t inpaint_effect_count(void);
INPAINT_API const char *inpaint_effect_name(size_t index);

/* The effects' per-call parameters (inpaint_effects_params.params, inpaint_cutout_params.params):
 * "background" ("transparent", "white", "black", "#rrggbb", "blur" or "blur:SIGMA") and the
 * effects' own, prefixed with the effect ("bw_contrast"). The strings of *out_info are static.
 * INVALID_ARGUMENT when index is out of range. */
INPAINT_API inpaint_status inpaint_effect_param_count(size_t *out_count);
INPAINT_API inpaint_status inpaint_effect_param_get(size_t index, inpaint_param_info *out_info);

typedef enum inpaint_effects_backend {
  INPAINT_EFFECTS_BACKEND_OPENCV = 0, /* CPU */
  INPAINT_EFFECTS_BACKEND_TENSOR = 1  /* LibTorch tensors on `device` (loads the torch backend) */
} inpaint_effects_backend;

typedef struct inpaint_effects_params {
  size_t struct_size;
  const char *effects;           /* comma-separated, no repeats: "bw,popart"; NULL = "color" */
  const inpaint_param *params;   /* param_count effect parameters, borrowed; NULL when 0 */
  size_t param_count;            /* 0 */
  inpaint_effects_backend backend; /* INPAINT_EFFECTS_BACKEND_OPENCV */
  const char *device;            /* tensor backend: "cpu", "cuda", "cuda:N", "auto"; NULL = "cpu" */
  int threads;                   /* effects rendered at once (OpenCV), 1..64; 2 */
  inpaint_run_control *control;  /* NULL */
} inpaint_effects_params;

/* Fills the defaults above and struct_size. */
INPAINT_API void inpaint_effects_params_init(inpaint_effects_params *params);

/* The images of one inpaint_render_effects call. Thread-safety: immutable; free it once. */
typedef struct inpaint_effects_result inpaint_effects_result;

/* Renders the effects of an RGB image under a matte (one channel, its size, 255 = object). An
 * unknown effect name is INVALID_ARGUMENT listing the known ones; so are bad parameters. params
 * may be NULL (defaults). Free *out_result with inpaint_effects_result_free(). */
INPAINT_API inpaint_status inpaint_render_effects(const inpaint_image *rgb, const inpaint_image *alpha,
                                                  const inpaint_effects_params *params,
                                                  inpaint_effects_result **out_result);

/* Frees an effects result. NULL is fine. */
INPAINT_API void inpaint_effects_result_free(inpaint_effects_result *result);

/* The number of images, in the order asked for; 0 for NULL. */
INPAINT_API size_t inpaint_effects_result_count(const inpaint_effects_result *result);

/* Image `index`: *out_name (may be NULL) the effect's static name, *out_image (may be NULL) a
 * view owned by the result (RGBA for a transparent background, else RGB; do not free it).
 * INVALID_ARGUMENT when index is out of range. */
INPAINT_API inpaint_status inpaint_effects_result_get(const inpaint_effects_result *result, size_t index,
                                                      const char **out_name, inpaint_image *out_image);

/* Where the effects ran ("cpu", "cuda:0"); owned by the result; NULL for NULL. */
INPAINT_API const char *inpaint_effects_result_device(const inpaint_effects_result *result);

/* ---- the output cache */

/* An in-process LRU of rendered cut-outs, bounded in encoded bytes, for inpaint_cutout.
 * Thread-safety: any threads may use one at once; free it after every call using it. */
typedef struct inpaint_result_cache inpaint_result_cache;

/* Free *out_cache with inpaint_result_cache_free(). */
INPAINT_API inpaint_status inpaint_result_cache_create(uint64_t capacity_bytes, inpaint_result_cache **out_cache);

/* Frees a cache. NULL is fine. */
INPAINT_API void inpaint_result_cache_free(inpaint_result_cache *cache);

/* Drops every entry (the counters stay). NULL is fine. */
INPAINT_API void inpaint_result_cache_clear(inpaint_result_cache *cache);

typedef struct inpaint_result_cache_stats {
  size_t struct_size;
  uint64_t hits;
  uint64_t misses;
  uint64_t insertions;
  uint64_t evictions;
  uint64_t entries;  /* held now */
  uint64_t bytes;    /* encoded bytes held now */
  uint64_t capacity;
} inpaint_result_cache_stats;

/* Zeroes the struct and sets struct_size. */
INPAINT_API void inpaint_result_cache_stats_init(inpaint_result_cache_stats *stats);

INPAINT_API inpaint_status inpaint_result_cache_get_stats(const inpaint_result_cache *cache,
                                                          inpaint_result_cache_stats *out_stats);

/* ---- the background-removal job */

typedef struct inpaint_cutout_params {
  size_t struct_size;
  const char *effects;             /* the outputs, comma-separated, in this order: "color,bw"; NULL =
                                      "color"; "" = none (only the matte: inpaint_cutout_result_alpha) */
  const inpaint_param *params;     /* param_count effect parameters (inpaint_effect_param_get),
                                      "background" included; borrowed; NULL when 0 */
  size_t param_count;              /* 0 */
  int refine_radius;               /* edge refinement's radius in px, 0 (off)..256; 0 */
  double refine_eps;               /* its regularisation, (0, 1]; 1e-4 */
  int foreground;                  /* estimate the object's colour at soft edges; 0 */
  inpaint_format output_format;    /* INPAINT_FORMAT_PNG (JPEG needs an opaque background) */
  int quality;                     /* JPEG quality 1..100; 90 */
  int png_compression;             /* zlib level 0..9; 1 */
  uint64_t max_pixels;             /* decode limit (TOO_LARGE); 100000000 */
  int apply_exif_orientation;      /* turn JPEG inputs upright; 1 */
  int threads;                     /* effects rendered and encoded at once, 1..64; 2 */
  inpaint_effects_backend effects_backend; /* INPAINT_EFFECTS_BACKEND_OPENCV */
  const char *effects_device;      /* NULL = "cpu" */
  inpaint_store *store;            /* mattes are looked up and kept here; NULL = always run the matter.
                                      A failing store never fails the call (see store_error) */
  inpaint_result_cache *cache;     /* rendered outputs are looked up and kept here; NULL = always render */
  inpaint_run_control *control;    /* NULL */
} inpaint_cutout_params;

/* Fills the defaults above and struct_size. */
INPAINT_API void inpaint_cutout_params_init(inpaint_cutout_params *params);

/* The outcome of inpaint_cutout. Thread-safety: immutable; free it once, after the reads. */
typedef struct inpaint_cutout_result inpaint_cutout_result;

/* Removes the background of an encoded PNG or JPEG photo: decode -> orient -> matte (from the
 * store when it holds it) -> refinement -> effects -> encode, the whole served from the cache
 * for a repeated request. An input with an alpha channel keeps it (output alpha = matte times
 * input alpha). Bad params, effect names and parameters fail before decoding (INVALID_ARGUMENT
 * naming the known effects for an unknown one); JPEG output with a transparent background is
 * INVALID_ARGUMENT. params may be NULL (defaults). Free *out_result with inpaint_cutout_result_free(). */
INPAINT_API inpaint_status inpaint_cutout(const inpaint_matter *matter, const uint8_t *image_bytes, size_t image_size,
                                          const inpaint_cutout_params *params, inpaint_cutout_result **out_result);

/* Frees a result. NULL is fine. */
INPAINT_API void inpaint_cutout_result_free(inpaint_cutout_result *result);

/* The number of outputs (one per effect asked for, in that order); 0 for NULL. */
INPAINT_API size_t inpaint_cutout_result_count(const inpaint_cutout_result *result);

/* Output `index`'s effect name (static) and encoded bytes (owned by the result; size in
 * *out_size, which may be NULL). NULL (size 0) when index is out of range. */
INPAINT_API const char *inpaint_cutout_result_effect(const inpaint_cutout_result *result, size_t index);
INPAINT_API const uint8_t *inpaint_cutout_result_output(const inpaint_cutout_result *result, size_t index,
                                                        size_t *out_size);

/* The outputs' size in pixels (the upright photo); 0 for NULL. */
INPAINT_API int inpaint_cutout_result_width(const inpaint_cutout_result *result);
INPAINT_API int inpaint_cutout_result_height(const inpaint_cutout_result *result);

/* A copy of the matte used (after refinement, times the input's alpha), one channel; a zeroed
 * image when the outputs came from the cache. Free *out_alpha with inpaint_image_free(). */
INPAINT_API inpaint_status inpaint_cutout_result_alpha(const inpaint_cutout_result *result, inpaint_image *out_alpha);

/* What the call reused and where it ran. Strings are owned by the result. */
typedef struct inpaint_cutout_info {
  size_t struct_size;
  int outputs_from_cache;    /* served from the cache: nothing decoded or rendered */
  int matte_from_store;      /* the matter did not run */
  int matte_stored;          /* a fresh matte was put into the store */
  double model_ms_saved;     /* from the store: what the matter took when it made the matte */
  const char *store_error;   /* a store failure that was ignored, "" when none */
  const char *effects_device; /* where the effects ran ("cpu", "cuda:0") */
  const char *input_sha256;  /* hex SHA-256 of the encoded input */
  const char *matte_id;      /* the matte's store id */
  const char *cache_key;     /* the outputs' cache key */
} inpaint_cutout_info;

/* Zeroes the struct and sets struct_size. */
INPAINT_API void inpaint_cutout_info_init(inpaint_cutout_info *info);

INPAINT_API inpaint_status inpaint_cutout_result_get_info(const inpaint_cutout_result *result,
                                                          inpaint_cutout_info *out_info);

/* Milliseconds per stage of one cut-out; stages served from a cache or store cost 0. */
typedef struct inpaint_cutout_timings {
  size_t struct_size;
  double key;         /* hashing the input bytes */
  double decode;      /* photo bytes to pixels */
  double orient;      /* EXIF orientation */
  double store;       /* looking the matte up and putting a fresh one there */
  double preprocess;  /* the matter's input */
  double model;       /* the matter's network or saliency */
  double postprocess; /* the matte scaled back to the photo */
  double refine;      /* edge refinement and foreground estimation */
  double effects;     /* the effects, their shared part included */
  double encode;      /* the outputs (encoded in parallel) */
  double total;       /* the whole call */
} inpaint_cutout_timings;

/* Zeroes the timings and sets struct_size. */
INPAINT_API void inpaint_cutout_timings_init(inpaint_cutout_timings *timings);

/* Copies the stage times into *out_timings, whose struct_size the caller has set. */
INPAINT_API inpaint_status inpaint_cutout_result_timings(const inpaint_cutout_result *result,
                                                         inpaint_cutout_timings *out_timings);

/* ---------------------------------------------------------------- video segmentation */

/* Frames from a video file (what the library's FFmpeg build demuxes and decodes) or a directory
 * of PNG/JPEG frames, numbered from 0 in presentation order and decoded on demand into an LRU
 * cache. Thread-safety: any threads may use one source at once (decoding is serialised inside);
 * free it once, after every call using it. Sessions share the source they were opened on: the
 * handle may be freed while they live. */
typedef struct inpaint_video_source inpaint_video_source;

typedef struct inpaint_video_source_params {
  size_t struct_size;
  int64_t max_pixels;            /* per frame, checked before any frame is decoded (TOO_LARGE);
                                    3840*2160 */
  int64_t max_frames;            /* frames in the clip (TOO_LARGE); 18000 */
  int allow_variable_frame_rate; /* 0: a file whose frame durations vary is INVALID_ARGUMENT; 1 */
  uint64_t cache_bytes;          /* decoded frames kept, least recently used dropped; 256 MiB */
  double fps;                    /* a frame directory's rate (0: unknown, reported as 0); 0 */
  int decode_threads;            /* the video decoder's threads (0: automatic); 0 */
} inpaint_video_source_params;

/* Fills the defaults above and struct_size. */
INPAINT_API void inpaint_video_source_params_init(inpaint_video_source_params *params);

/* Opens a video file or a frame directory (files in natural order, "f2.png" before "f10.png";
 * other files ignored). Opening counts the frames from the packets (or the files) without
 * decoding them, checks the limits and hashes the coded frames into content_id. IO when path
 * cannot be read; DECODE for a file that is not a video, has no video stream or zero frames, is
 * truncated, or a directory without frames or with frames of different sizes; TOO_LARGE over a
 * limit; INVALID_ARGUMENT for bad params or a variable frame rate the params refuse. params may
 * be NULL (defaults). Free *out_source with inpaint_video_source_free(). */
INPAINT_API inpaint_status inpaint_video_source_open(const char *path, const inpaint_video_source_params *params,
                                                     inpaint_video_source **out_source);

/* Frees a source (sessions opened on it keep their share). NULL is fine. */
INPAINT_API void inpaint_video_source_free(inpaint_video_source *source);

/* What a source (or a session's source) holds. Every pointer is owned by the handle it came from
 * and valid until that handle is freed. */
typedef struct inpaint_video_info {
  size_t struct_size;
  const char *path;
  const char *format;     /* the container ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", ...) or "directory" */
  const char *codec;      /* "h264", "mpeg4", ...; a directory: the first frame's "png" or "jpeg" */
  int width;
  int height;
  int64_t frame_count;    /* exact: counted from the packets (or the files) */
  double fps;             /* frame_count / duration; a directory: the params' fps */
  int variable_frame_rate;
  const double *timestamps_ms; /* frame_count presentation times in ms from the first frame (a
                                  directory: index / fps, all 0 when fps is 0) */
  const char *content_id; /* hex SHA-256 of the coded frames (or the frame files' bytes) */
} inpaint_video_info;

/* Zeroes the struct and sets struct_size. */
INPAINT_API void inpaint_video_info_init(inpaint_video_info *info);

/* Copies the source's info into *out_info, whose struct_size the caller has set. */
INPAINT_API inpaint_status inpaint_video_source_get_info(const inpaint_video_source *source,
                                                         inpaint_video_info *out_info);

/* Frame `index` (0-based) as RGB. width and height 0: the frame's own size; otherwise it is
 * scaled to width x height while converting (both must then be positive). Decoding seeks to the
 * key frame before it and keeps the frames decoded on the way in the cache. INVALID_ARGUMENT for
 * an index outside 0..frame_count-1 (naming the count) or a bad size; DECODE naming the frame for
 * one that cannot be decoded (a damaged or truncated file). *out_frame is packed and
 * library-allocated: free it with inpaint_image_free(). */
INPAINT_API inpaint_status inpaint_video_source_frame(inpaint_video_source *source, int64_t index, int width,
                                                      int height, inpaint_image *out_frame);

/* Bytes of decoded frames the cache holds now and at most (either output may be NULL). */
INPAINT_API inpaint_status inpaint_video_source_cache(const inpaint_video_source *source, uint64_t *out_cached_bytes,
                                                      uint64_t *out_capacity_bytes);

/* Lowers or raises the cache's capacity; shrinking drops frames at once. */
INPAINT_API inpaint_status inpaint_video_source_set_cache_capacity(inpaint_video_source *source, uint64_t bytes);

/* A SAM2-style video model: an image encoder, a memory encoder and a mask decoder. Thread-safety:
 * immutable once created; any threads and sessions may share one. Sessions keep a share of it:
 * the handle may be freed while sessions opened from it live. */
typedef struct inpaint_video_segmenter inpaint_video_segmenter;

/* Creates a video segmenter from a spec:
 * "sam2video:encoder=FILE,memory_encoder=FILE,decoder=FILE[,size=1024][,device=auto][,id=NAME]
 * [,mask_threshold=0]". There is no default: NULL or "" is INVALID_ARGUMENT. UNKNOWN_MODEL,
 * PARSE, INVALID_ARGUMENT, IO, DECODE and UNAVAILABLE (no torch backend) as for models. Free
 * *out_segmenter with inpaint_video_segmenter_free(). */
INPAINT_API inpaint_status inpaint_video_segmenter_create(const char *spec,
                                                          inpaint_video_segmenter **out_segmenter);

/* Frees a video segmenter (sessions keep their share). NULL is fine. */
INPAINT_API void inpaint_video_segmenter_free(inpaint_video_segmenter *segmenter);

/* The canonical spec and the model id that keys checkpoints and stored frame encodings. Owned by
 * the segmenter; NULL for a NULL segmenter. */
INPAINT_API const char *inpaint_video_segmenter_spec(const inpaint_video_segmenter *segmenter);
INPAINT_API const char *inpaint_video_segmenter_model_id(const inpaint_video_segmenter *segmenter);

/* Where it runs and what loading it cost (as for models; the device string is owned by the
 * segmenter). */
INPAINT_API inpaint_status inpaint_video_segmenter_get_load_info(const inpaint_video_segmenter *segmenter,
                                                                 inpaint_model_load_info *out_info);

/* The number of video segmenters and the name and description of entry `index` (sorted by
 * name); free the strings with inpaint_string_free(). INVALID_ARGUMENT when out of range. */
INPAINT_API inpaint_status inpaint_video_segmenter_list_size(size_t *out_count);
INPAINT_API inpaint_status inpaint_video_segmenter_list_get(size_t index, char **out_name, char **out_description);

/* The objects of one clip: their prompts and memory bank, and the propagations through the clip.
 * Every prompt change (add_prompt, remove_object, reset) bumps the session's generation; a
 * propagation started under an older generation stops before its next frame and reports itself
 * superseded (not an error). Thread-safety: any threads may call a session at once; one
 * propagation runs at a time (another waits for it). Free it once, after every call on it has
 * returned; a running stream keeps its own share of the session. */
typedef struct inpaint_video_session inpaint_video_session;

typedef struct inpaint_video_session_params {
  size_t struct_size;
  int memory_frames;         /* recent (unprompted) frames in each object's memory, 1..64; 7 */
  int max_prompted_frames;   /* prompted frames per object, 1..256; 16 */
  int max_objects;           /* 1..1024; 16 */
  uint64_t memory_cap_bytes; /* frame cache + encodings + memory bank; a prompt or a propagation
                                step that would pass it fails with TOO_LARGE naming the parts and
                                leaves the session as it was; 0: no cap; 2 GiB */
  uint64_t encoding_cache_bytes; /* frame encodings kept in the session (LRU); 256 MiB */
  inpaint_store *store;      /* frame encodings are also looked up and kept here (shared by
                                sessions and processes); its failures never fail a frame. The
                                session takes a share of the store: the store handle may be freed
                                while the session lives. NULL: only the session's cache */
} inpaint_video_session_params;

/* Fills the defaults above and struct_size. */
INPAINT_API void inpaint_video_session_params_init(inpaint_video_session_params *params);

/* Opens a session of segmenter on source (both shared with it). params may be NULL (defaults).
 * INVALID_ARGUMENT for params out of range. Free *out_session with inpaint_video_session_free(). */
INPAINT_API inpaint_status inpaint_video_session_open(const inpaint_video_segmenter *segmenter,
                                                      inpaint_video_source *source,
                                                      const inpaint_video_session_params *params,
                                                      inpaint_video_session **out_session);

/* Opens the session that inpaint_video_session_checkpoint saved in store under checkpoint_id
 * (the store is only read here; params->store is the one the session keeps encodings in).
 * INVALID_ARGUMENT when the id is not in the store, the checkpoint is of another model or clip,
 * or lacks a tensor it lists (named). */
INPAINT_API inpaint_status inpaint_video_session_resume(const inpaint_video_segmenter *segmenter,
                                                        inpaint_video_source *source, inpaint_store *store,
                                                        const char *checkpoint_id,
                                                        const inpaint_video_session_params *params,
                                                        inpaint_video_session **out_session);

/* Frees a session. NULL is fine. A stream still running on it keeps the session alive until the
 * stream is freed. */
INPAINT_API void inpaint_video_session_free(inpaint_video_session *session);

/* The session's clip, as inpaint_video_source_get_info; the pointers are owned by the session. */
INPAINT_API inpaint_status inpaint_video_session_get_info(const inpaint_video_session *session,
                                                          inpaint_video_info *out_info);

/* The session's generation (bumped by every prompt change); 0 for NULL. */
INPAINT_API uint64_t inpaint_video_session_generation(const inpaint_video_session *session);

/* The object ids, increasing: *out_count is their number, and the first min(count, capacity)
 * are written to out_ids (which may be NULL when capacity is 0, to ask for the count). */
INPAINT_API inpaint_status inpaint_video_session_objects(const inpaint_video_session *session, int *out_ids,
                                                         size_t capacity, size_t *out_count);

/* A prompt for one object on one frame, in the frame's pixels. Points and a box combine; a mask
 * is used as the frame's result as it is and may not be combined with them. */
typedef struct inpaint_video_prompt {
  size_t struct_size;
  const inpaint_point *points;  /* point_count clicks; NULL when point_count is 0 */
  size_t point_count;
  int has_box;                  /* 0 */
  double box[4];                /* x0, y0, x1, y1, when has_box */
  const inpaint_image *mask;    /* one channel of the frame's size, > 127 = object; NULL = none */
  int replace;                  /* 1: replaces the object's earlier prompt on this frame; 0: adds
                                   these clicks to it; 1 */
  inpaint_run_control *control; /* cancel and deadline of this call; NULL */
} inpaint_video_prompt;

/* Fills the defaults above and struct_size. */
INPAINT_API void inpaint_video_prompt_init(inpaint_video_prompt *prompt);

/* One object's mask on one frame. */
typedef struct inpaint_object_mask {
  size_t struct_size;
  int object_id;
  inpaint_image mask;  /* one channel, the frame's size, 255 = object; all 0 when absent */
  int box[4];          /* x, y, width, height of the mask's pixels; zeros when empty */
  double score;        /* the decoder's predicted IoU, in [0, 1] */
  double object_score; /* the presence logit: > 0 means the object is in the frame */
  int present;         /* object_score > 0 */
  int prompted;        /* the frame holds a prompt for this object */
} inpaint_object_mask;

/* Zeroes the struct and sets struct_size. */
INPAINT_API void inpaint_object_mask_init(inpaint_object_mask *mask);

/* Adds a prompt for object_id (>= 0; a new id adds an object) on `frame` (or, with replace,
 * sets it) and returns the object's mask there in *out_mask (may be NULL; its struct_size set
 * by the caller). out_mask->mask is then library-allocated: free it with
 * inpaint_image_free(&out_mask->mask). A propagation running on the session stops before its
 * next frame (superseded). INVALID_ARGUMENT for a frame outside the clip, a negative id, an empty
 * prompt, points and a mask together, a mask of another size, NaN coordinates, too many objects
 * or prompted frames; TOO_LARGE over the memory cap; the session is then unchanged. */
INPAINT_API inpaint_status inpaint_video_session_add_prompt(inpaint_video_session *session, int64_t frame,
                                                            int object_id, const inpaint_video_prompt *prompt,
                                                            inpaint_object_mask *out_mask);

/* Forgets one object. INVALID_ARGUMENT naming the known ids for an unknown one. */
INPAINT_API inpaint_status inpaint_video_session_remove_object(inpaint_video_session *session, int object_id);

/* Forgets every object, prompt and memory entry (the frame and encoding caches stay). */
INPAINT_API inpaint_status inpaint_video_session_reset(inpaint_video_session *session);

/* Bytes a session holds, for its memory cap. */
typedef struct inpaint_video_memory {
  size_t struct_size;
  uint64_t frame_cache; /* the source's decoded frames (a shared source counts whole) */
  uint64_t encodings;   /* the session's cache of frame encodings */
  uint64_t memory_bank; /* every object's memory entries and prompted-frame results */
  uint64_t total;
  uint64_t cap;         /* memory_cap_bytes; 0: none */
} inpaint_video_memory;

/* Zeroes the struct and sets struct_size. */
INPAINT_API void inpaint_video_memory_init(inpaint_video_memory *memory);

INPAINT_API inpaint_status inpaint_video_session_memory(const inpaint_video_session *session,
                                                        inpaint_video_memory *out_memory);

/* Saves prompts, object ids, the memory bank and the generation into store as one encoding
 * under id (checked like inpaint_validate_encoding_id; NULL or "" picks a fresh random id) and
 * gives the id in *out_id (library-allocated; free it with inpaint_string_free()). It waits for a
 * running propagation without superseding it. */
INPAINT_API inpaint_status inpaint_video_session_checkpoint(inpaint_video_session *session, inpaint_store *store,
                                                            const char *id, char **out_id);

/* ---- propagation */

typedef enum inpaint_propagate_direction {
  INPAINT_PROPAGATE_FORWARD = 0,  /* to the clip's end */
  INPAINT_PROPAGATE_BACKWARD = 1, /* to its start */
  INPAINT_PROPAGATE_BOTH = 2      /* forward to the end, then backward from the frame before the start */
} inpaint_propagate_direction;

typedef struct inpaint_propagate_params {
  size_t struct_size;
  int64_t start_frame;                   /* -1: the earliest prompted frame (FORWARD, BOTH) or the
                                            latest (BACKWARD); -1 */
  inpaint_propagate_direction direction; /* INPAINT_PROPAGATE_FORWARD */
  int64_t max_frames;                    /* frames in each direction, the start included; 0: to
                                            the clip's end (or start); 0 */
  inpaint_run_control *control;          /* cancel (CANCELLED) and deadline (TIMEOUT); NULL */
} inpaint_propagate_params;

/* Fills the defaults above and struct_size. */
INPAINT_API void inpaint_propagate_params_init(inpaint_propagate_params *params);

/* How a propagation ended. */
typedef struct inpaint_propagate_summary {
  size_t struct_size;
  uint64_t generation; /* the generation it ran under */
  int superseded;      /* a prompt change stopped it (not an error) */
  int stopped;         /* the callback (or the stream's consumer) asked it to stop */
  int64_t frames;      /* frames delivered */
  int64_t dropped;     /* a stream's frames dropped by INPAINT_BACKPRESSURE_DROP_OLDEST */
  double wait_ms;      /* waiting for a propagation slot and for the session */
  double total_ms;
} inpaint_propagate_summary;

/* Zeroes the struct and sets struct_size. */
INPAINT_API void inpaint_propagate_summary_init(inpaint_propagate_summary *summary);

/* Every object's mask on one frame (by increasing object id) and what the frame cost.
 * Thread-safety: immutable; any threads may read one at once. */
typedef struct inpaint_frame_masks inpaint_frame_masks;

/* The frame's index; -1 for NULL. */
INPAINT_API int64_t inpaint_frame_masks_frame(const inpaint_frame_masks *masks);

/* The number of objects; 0 for NULL. */
INPAINT_API size_t inpaint_frame_masks_count(const inpaint_frame_masks *masks);

/* Object `index` (0-based, by increasing id) into *out_mask, whose struct_size the caller has
 * set. out_mask->mask is a read-only view owned by `masks` (do not free it), valid while masks
 * is. INVALID_ARGUMENT when index is out of range. */
INPAINT_API inpaint_status inpaint_frame_masks_object(const inpaint_frame_masks *masks, size_t index,
                                                      inpaint_object_mask *out_mask);

/* The object with id object_id, as inpaint_frame_masks_object. INVALID_ARGUMENT naming the ids
 * there are when none has it. */
INPAINT_API inpaint_status inpaint_frame_masks_find(const inpaint_frame_masks *masks, int object_id,
                                                    inpaint_object_mask *out_mask);

/* 1 when the frame's encoding came from the session's cache or its store (no encoder ran). */
INPAINT_API int inpaint_frame_masks_encoding_from_store(const inpaint_frame_masks *masks);

/* Milliseconds per stage of one frame. */
typedef struct inpaint_frame_timings {
  size_t struct_size;
  double read;        /* decoding (or the cache) and preprocessing the frame */
  double encode;      /* the image encoder (0 when from the store), store get/put included */
  double decode;      /* the mask decoder, all objects */
  double memory;      /* the memory encoder and the bank's bookkeeping, all objects */
  double postprocess; /* logits to full-resolution masks */
  double total;
  double model;       /* inside the model's modules (already counted above): total - model is
                         what the library itself spent on the frame */
} inpaint_frame_timings;

/* Zeroes the timings and sets struct_size. */
INPAINT_API void inpaint_frame_timings_init(inpaint_frame_timings *timings);

INPAINT_API inpaint_status inpaint_frame_masks_timings(const inpaint_frame_masks *masks,
                                                       inpaint_frame_timings *out_timings);

/* Frees frame masks that inpaint_propagation_next gave. NULL is fine. Never free the ones a
 * propagation callback is handed. */
INPAINT_API void inpaint_frame_masks_free(inpaint_frame_masks *masks);

/* Called once per frame, in propagation order, on the propagating thread. `masks` is owned by the
 * library and valid only during the call. Return 0 to stop the propagation (summary.stopped),
 * non-zero to go on. */
typedef int (*inpaint_frame_fn)(const inpaint_frame_masks *masks, void *user_data);

/* Runs the objects' masks through the clip on the calling thread, calling on_frame (may be NULL:
 * the memory bank is filled, nothing is delivered) with user_data for each frame. A prompt change
 * from another thread stops it before its next frame: INPAINT_OK with out_summary->superseded.
 * INVALID_ARGUMENT when the session has no objects, the start is outside the clip, or (start -1)
 * nothing is prompted; CANCELLED and TIMEOUT from params->control; TIMEOUT too when no
 * propagation slot (inpaint_set_max_concurrent_propagations) freed before its deadline. params
 * may be NULL (defaults); out_summary (may be NULL) is written on success only. */
INPAINT_API inpaint_status inpaint_video_session_propagate(inpaint_video_session *session,
                                                           const inpaint_propagate_params *params,
                                                           inpaint_frame_fn on_frame, void *user_data,
                                                           inpaint_propagate_summary *out_summary);

/* What a stream does when its consumer falls max_pending frames behind. */
typedef enum inpaint_backpressure {
  INPAINT_BACKPRESSURE_WAIT = 0,       /* the propagation waits: every frame is delivered */
  INPAINT_BACKPRESSURE_DROP_OLDEST = 1 /* it goes on; the oldest undelivered frame is dropped and counted */
} inpaint_backpressure;

/* A propagation on a thread of its own, consumed frame by frame with inpaint_propagation_next:
 * at most max_pending results wait for the consumer. Thread-safety: next from one thread at a
 * time; cancel from any thread while the stream lives; free once, after every other call. */
typedef struct inpaint_propagation inpaint_propagation;

/* Starts a propagation of session (as inpaint_video_session_propagate; params may be NULL) at
 * once. max_pending >= 1. The stream keeps a share of the session: the session handle may be
 * freed first; params->control must stay valid until the stream is freed. Errors of the propagation itself (no objects, CANCELLED, ...) come from
 * inpaint_propagation_next. Free *out_stream with inpaint_propagation_free(). */
INPAINT_API inpaint_status inpaint_propagation_start(inpaint_video_session *session,
                                                     const inpaint_propagate_params *params, size_t max_pending,
                                                     inpaint_backpressure policy,
                                                     inpaint_propagation **out_stream);

/* Waits for the next frame: *out_masks is it (free it with inpaint_frame_masks_free()), or NULL
 * at the end (also after a cancel, a stop or a supersession; the summary is then final). The
 * propagation's error is returned once, by the call that meets it; later calls give the end. */
INPAINT_API inpaint_status inpaint_propagation_next(inpaint_propagation *stream, inpaint_frame_masks **out_masks);

/* Stops the propagation (as a consumer that stops: summary.stopped); next then gives the end.
 * Safe from any thread while the stream lives. NULL is fine. */
INPAINT_API void inpaint_propagation_cancel(inpaint_propagation *stream);

/* The propagation's summary into *out_summary, whose struct_size the caller has set: final once
 * next gave the end (or the error); zeros while the propagation runs. */
INPAINT_API inpaint_status inpaint_propagation_summary(const inpaint_propagation *stream,
                                                       inpaint_propagate_summary *out_summary);

/* Results waiting for the consumer now; 0 for NULL. */
INPAINT_API size_t inpaint_propagation_pending(const inpaint_propagation *stream);

/* Stops the propagation if it still runs, waits for its thread and frees the stream. NULL is fine. */
INPAINT_API void inpaint_propagation_free(inpaint_propagation *stream);

/* The process-wide number of propagations that may run at once (the device's share); one beyond
 * it waits for a slot (its control's deadline and cancel apply). Default: INPAINT_MAX_PROPAGATIONS
 * from the environment, else 2. 0: no limit. INVALID_ARGUMENT for a negative n. */
INPAINT_API inpaint_status inpaint_set_max_concurrent_propagations(int n);
INPAINT_API int inpaint_max_concurrent_propagations(void);
/* Propagations running now. */
INPAINT_API int inpaint_running_propagations(void);

#ifdef __cplusplus
}
#endif

#endif /* INPAINT_H */
