// The prompt builder and the label-wait policy of the fill service.
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <filesystem>
#include <optional>

#include "convert.hpp"
#include "inpaint/label_wait.hpp"
#include "inpaint/prompt.hpp"
#include "module.hpp"

namespace inpaint::python {

namespace {

// Labels arrive as the segmentation service stored them: a dict, its JSON text, or nothing.
std::string labels_json(const py::object& labels) {
  if (labels.is_none()) return "null";
  if (py::isinstance<py::str>(labels)) return utf8_text(labels, "labels");
  if (py::isinstance<py::dict>(labels)) return utf8_text(py::module_::import("json").attr("dumps")(labels), "labels");
  throw py::type_error("labels must be a dict, a JSON string or None, got " +
                       std::string(py::str(labels.get_type().attr("__name__"))));
}

std::string repr(const Prompt& p) {
  auto quoted = [](const std::string& s) { return std::string(py::repr(py::str(s))); };
  return "Prompt(text=" + quoted(p.text) + ", from_labels=" + (p.from_labels ? "True" : "False") +
         ", reason=" + quoted(p.reason) + ")";
}

}  // namespace

void bind_prompts(py::module_& m) {
  py::class_<Prompt>(m, "Prompt", "A fill prompt and where it came from.")
      .def_readonly("text", &Prompt::text, "The prompt handed to the model.")
      .def_readonly("from_labels", &Prompt::from_labels, "False when the fallback prompt was used.")
      .def_readonly("reason", &Prompt::reason,
                    "Why: 'labels', 'no labels', \"unknown surface 'x'\" or 'low confidence 0.30 < 0.50'.")
      .def("__repr__", &repr);

  m.def(
      "build_prompt",
      [](const py::object& labels, const std::optional<std::filesystem::path>& table, double min_confidence) {
        std::string json = labels_json(labels);
        std::optional<std::string> table_path;
        if (table) table_path = table->string();
        return without_gil([&] {
          PromptTable prompts = table_path ? PromptTable::from_json_file(*table_path) : PromptTable::builtin();
          PromptOptions options;
          options.min_confidence = min_confidence;
          return build_prompt(parse_scene_labels(json), prompts, options);
        });
      },
      py::arg("labels"), py::arg("table") = py::none(), py::arg("min_confidence") = PromptOptions{}.min_confidence,
      "Builds the fill prompt from scene labels ({'surface': 'grass', 'detail': ..., 'confidence': 0.9},\n"
      "as a dict or JSON text; None for none): the detail, then the surface's prompt. The fallback\n"
      "prompt is used when labels are missing, name an unknown surface or are below min_confidence.\n"
      "table is a JSON file {'surfaces': {...}, 'fallback': ...} extending the built-in table.\n"
      "Raises ParseError for malformed JSON.");

  m.def(
      "prompt_table",
      [](const std::optional<std::filesystem::path>& table) {
        std::optional<std::string> table_path;
        if (table) table_path = table->string();
        PromptTable prompts =
            without_gil([&] { return table_path ? PromptTable::from_json_file(*table_path) : PromptTable::builtin(); });
        py::dict out;
        out["surfaces"] = prompts.surfaces;
        out["fallback"] = prompts.fallback;
        return out;
      },
      py::arg("table") = py::none(),
      "The prompt table build_prompt() uses: {'surfaces': {surface: prompt}, 'fallback': prompt}, the\n"
      "built-in one or the built-in one extended by the JSON file `table` (surface names lower-cased\n"
      "and trimmed, as build_prompt() looks them up). Raises ParseError for a malformed file.");

  const LabelWaitPolicy policy;
  m.def(
      "decide_label_wait",
      [](int attempt, double age_s, bool labels_present, int max_wait_attempt, double max_wait_age_s,
         int give_up_attempt) {
        LabelWaitPolicy policy{max_wait_attempt, max_wait_age_s, give_up_attempt};
        return std::string(label_wait_decision_name(decide_label_wait(attempt, age_s, labels_present, policy)));
      },
      py::arg("attempt"), py::arg("age_s"), py::arg("labels_present"),
      py::arg("max_wait_attempt") = policy.max_wait_attempt, py::arg("max_wait_age_s") = policy.max_wait_age_s,
      py::arg("give_up_attempt") = policy.give_up_attempt,
      "The fill service's requeue guard for a job whose scene labels may not be stored yet.\n"
      "attempt is the delivery attempt (1 = first), age_s the job's age in seconds. Returns 'wait'\n"
      "(answer 500 so it is redelivered), 'proceed_with_labels', 'proceed_with_fallback' or\n"
      "'give_up' (acknowledge and drop).");
}

}  // namespace inpaint::python
