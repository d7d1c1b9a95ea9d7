// OpenCV's diffusion fills (Telea 2004, Bertalmio et al. 2001): quick, smooth, no texture.
#include <opencv2/imgproc.hpp>
#include <opencv2/photo.hpp>

#include "core/cv_bridge.hpp"
#include "inpaint/error.hpp"
#include "models/builtin.hpp"

namespace inpaint::detail {

namespace {

class OpenCvFill final : public InpaintModel {
 public:
  OpenCvFill(std::string name, int method, int radius) : name_(std::move(name)), method_(method), radius_(radius) {}

  std::string spec() const override { return name_ + ":radius=" + std::to_string(radius_); }

  Image inpaint(const InpaintRequest& request) const override {
    validate_request(request);
    Image out = Image::uninitialized(request.image.width, request.image.height, 3);
    cv::Mat dst = as_mat(out);
    // The fills are colour-order agnostic: RGB in, RGB out.
    cv::inpaint(as_mat(request.image), as_mat(request.mask), dst, radius_, method_);
    return out;
  }

 private:
  std::string name_;
  int method_;
  int radius_;
};

std::unique_ptr<InpaintModel> make(const ModelSpec& spec, int method) {
  SpecReader reader(spec);
  int radius = reader.get_int("radius", 5, 1, 64);
  reader.finish();
  return std::make_unique<OpenCvFill>(spec.name, method, radius);
}

}  // namespace

std::unique_ptr<InpaintModel> make_telea(const ModelSpec& spec) { return make(spec, cv::INPAINT_TELEA); }
std::unique_ptr<InpaintModel> make_navier_stokes(const ModelSpec& spec) { return make(spec, cv::INPAINT_NS); }

}  // namespace inpaint::detail
