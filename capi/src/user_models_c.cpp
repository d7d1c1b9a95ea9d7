// Fill models written in C: a table of callbacks registered under a name (inpaint.h,
// inpaint_register_model). The library wraps them in an InpaintModel, so the registry, the
// pipeline and every binding treat them as any other model.
#include <cstring>
#include <new>
#include <vector>

#include "c_shim.hpp"
#include "inpaint/model.hpp"

using namespace inpaint::capi;

namespace {

// A callback's status and message as the library's error; `who` names the model.
void throw_callback_error(inpaint_status status, const char* error, const std::string& who) {
  std::string message = who + ": " + (error[0] ? error : inpaint_status_name(status));
  int value = c_enum(status);
  if (value == INPAINT_ERR_OUT_OF_MEMORY) throw std::bad_alloc();
  bool known = (value >= INPAINT_ERR_INVALID_ARGUMENT && value <= INPAINT_ERR_INTERNAL) ||
               value == INPAINT_ERR_UNAVAILABLE || value == INPAINT_ERR_TIMEOUT;
  throw Error(known ? static_cast<ErrorCode>(value) : ErrorCode::Internal, message);
}

class CModel final : public inpaint::InpaintModel {
 public:
  CModel(std::string name, inpaint::ModelSpec spec, inpaint_model_callbacks callbacks, void* state)
      : name_(std::move(name)), spec_(std::move(spec)), callbacks_(callbacks), state_(state) {}
  ~CModel() override {
    if (callbacks_.create && callbacks_.destroy) callbacks_.destroy(state_);
  }

  std::string spec() const override { return spec_.str(); }

  inpaint::Image inpaint(const inpaint::InpaintRequest& request) const override {
    inpaint::validate_request(request);
    inpaint::check_run(request.control, "before the C model");
    auto view = [](const inpaint::ImageView& v) {
      return inpaint_image{const_cast<std::uint8_t*>(v.data), v.width, v.height, v.channels, v.stride};
    };
    inpaint_image image = view(request.image), mask = view(request.mask);
    // Starts as the input, so pixels the callback leaves alone are defined.
    inpaint::Image out = inpaint::Image::uninitialized(request.image.width, request.image.height, 3);
    for (int y = 0; y < out.height(); ++y)
      std::memcpy(out.data() + std::size_t(y) * out.width() * 3, request.image.data + std::size_t(y) * request.image.stride,
                  std::size_t(out.width()) * 3);
    inpaint_image out_image{out.data(), out.width(), out.height(), 3, std::size_t(out.width()) * 3};
    inpaint_fill_call call{sizeof call, &image, &mask, request.prompt.c_str(), &out_image};
    char error[512] = {0};
    inpaint_status status = callbacks_.fill(state_, &call, error, sizeof error);
    error[sizeof error - 1] = 0;
    if (status != INPAINT_OK) throw_callback_error(status, error, "model '" + name_ + "'");
    return out;
  }

 private:
  std::string name_;
  inpaint::ModelSpec spec_;
  inpaint_model_callbacks callbacks_;
  void* state_;
};

}  // namespace

extern "C" {

void inpaint_model_callbacks_init(inpaint_model_callbacks* callbacks) {
  if (!callbacks) return;
  *callbacks = inpaint_model_callbacks{};
  callbacks->struct_size = sizeof *callbacks;
}

inpaint_status inpaint_register_model(const char* name, const char* description, const inpaint_model_callbacks* callbacks,
                                      void* user_data) {
  return guarded([&] {
    require(name, "inpaint_register_model", "name");
    require(callbacks, "inpaint_register_model", "callbacks");
    require_struct_size(callbacks, "inpaint_register_model", "callbacks", "inpaint_model_callbacks_init");
    inpaint_model_callbacks table{};
    std::memcpy(&table, callbacks, callbacks->struct_size);  // an older, shorter table: the rest stays NULL
    if (!table.fill) invalid("inpaint_register_model: callbacks->fill is NULL");
    std::string model_name = name;
    inpaint::default_registry().add(
        model_name, description && *description ? description : "a fill model written in C",
        [model_name, table, user_data](const inpaint::ModelSpec& spec) -> std::unique_ptr<inpaint::InpaintModel> {
          void* state = user_data;
          if (table.create) {
            std::vector<const char*> keys, values;
            for (const auto& [key, value] : spec.params) {
              keys.push_back(key.c_str());
              values.push_back(value.c_str());
            }
            char error[512] = {0};
            inpaint_status status = table.create(user_data, keys.size(), keys.data(), values.data(), &state, error, sizeof error);
            error[sizeof error - 1] = 0;
            if (status != INPAINT_OK) throw_callback_error(status, error, "model '" + model_name + "'");
          } else if (!spec.params.empty()) {
            throw Error(ErrorCode::InvalidArgument, "model '" + model_name + "' takes no parameters");
          }
          return std::make_unique<CModel>(model_name, spec, table, state);
        });
  });
}

}  // extern "C"
