#pragma once
// What the CLI's command files share (defined in main.cpp and segment_commands.cpp).
#include <memory>
#include <string>
#include <vector>

#include "inpaint/image.hpp"
#include "inpaint/params.hpp"
#include "inpaint/store.hpp"

// Writes the outputs all together (write_files_atomic) with SIGINT and SIGTERM held back, so that
// even a second signal arrives only when every output is complete or none was written (main.cpp).
void write_outputs(const std::vector<inpaint::FileOutput>& files);

// --param KEY=VALUE, split at the first '='; each value is read as the declared type later (main.cpp).
inpaint::CallParams call_params(const std::vector<std::string>& given);

// The comma-separated numbers of `list` (part of an option's value `text`); Error(InvalidArgument)
// naming the option and the value for anything that is not a finite number (segment_commands.cpp).
std::vector<double> parse_numbers(const std::string& list, const std::string& option, const std::string& text);

// The store a --store spec names, or nullptr for ""; a store that cannot be opened (IO,
// UNAVAILABLE) is warned about and not used; a malformed spec throws (segment_commands.cpp).
std::unique_ptr<inpaint::EncodingStore> open_optional_store(const std::string& spec);
