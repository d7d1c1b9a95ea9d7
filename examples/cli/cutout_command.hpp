#pragma once
// `inpaint cutout`: background removal (and the effects) from the command line.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "inpaint/image.hpp"
#include "inpaint/model.hpp"

struct CutoutArgs {
  std::string image, out, out_dir, store, background, effects;
  std::string model = "saliency";
  std::string format;  // "" = from --out's extension, else png
  std::vector<std::string> params;  // --param KEY=VALUE, in the order given
  int refine = 0, quality = 90, threads = 2;
  bool foreground = false, json = false, no_exif = false;
  std::uint64_t max_pixels = inpaint::DecodeOptions{}.max_pixels;
  std::string effects_backend = "opencv", device = "cpu";
};

CLI::App* add_cutout_command(CLI::App& app, CutoutArgs& args);

// Runs `inpaint cutout`; control is checked between the steps.
int run_cutout_command(const CutoutArgs& args, inpaint::RunControl& control);
