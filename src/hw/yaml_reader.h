// Reading edgeco's YAML files (platforms, scenarios) with errors that name the file, the line,
// the column and the field. Private to the modules that parse YAML.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "edgeco/core.h"

namespace edgeco::yaml {

// Where a YAML node is: "file:line:column: field".
class Reader {
 public:
  explicit Reader(std::filesystem::path file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const YAML::Node& at, const std::string& field,
                         const std::string& message) const {
    const YAML::Mark m = at.Mark();
    std::string where = file_.string();
    if (!m.is_null())
      where += ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
    throw Error(ErrorKind::invalid_argument, field + ": " + message, where);
  }

  YAML::Node child(const YAML::Node& parent, const std::string& key, const std::string& field,
                   bool required = true) const {
    if (!parent.IsMap()) fail(parent, field, "expected a mapping");
    YAML::Node n = parent[key];
    if (!n && required) fail(parent, field + "." + key, "missing");
    return n;
  }

  double number(const YAML::Node& parent, const std::string& key, const std::string& field,
                std::optional<double> fallback = std::nullopt, double min = 0) const {
    const YAML::Node n = child(parent, key, field, !fallback);
    if (!n) return *fallback;
    double v = 0;
    try {
      v = n.as<double>();
    } catch (const YAML::Exception&) {
      fail(n, field + "." + key, "expected a number");
    }
    if (!std::isfinite(v) || v < min)
      fail(n, field + "." + key, "must be a finite number >= " + std::to_string(min));
    return v;
  }

  // A mapping's key as text: a key that is a list or a mapping is an error, not a conversion
  // failure escaping as yaml-cpp's exception.
  std::string key(const YAML::Node& k, const std::string& field) const {
    if (!k.IsScalar()) fail(k, field, "a key must be text");
    return k.as<std::string>();
  }

  std::string text(const YAML::Node& parent, const std::string& key, const std::string& field,
                   std::optional<std::string> fallback = std::nullopt) const {
    const YAML::Node n = child(parent, key, field, !fallback);
    if (!n) return *fallback;
    if (!n.IsScalar()) fail(n, field + "." + key, "expected text");
    return n.as<std::string>();
  }

  std::vector<std::string> texts(const YAML::Node& parent, const std::string& key,
                                 const std::string& field) const {
    std::vector<std::string> out;
    const YAML::Node n = child(parent, key, field, false);
    if (!n) return out;
    if (!n.IsSequence()) fail(n, field + "." + key, "expected a list");
    for (const auto& item : n) {
      if (!item.IsScalar()) fail(item, field + "." + key, "expected text items");
      out.push_back(item.as<std::string>());
    }
    return out;
  }

  // [[a, b], ...] pairs of numbers.
  std::vector<std::pair<double, double>> pairs(const YAML::Node& parent, const std::string& key,
                                               const std::string& field) const {
    const YAML::Node n = child(parent, key, field);
    if (!n.IsSequence() || n.size() == 0) fail(n, field + "." + key, "expected a list of pairs");
    std::vector<std::pair<double, double>> out;
    for (const auto& item : n) {
      if (!item.IsSequence() || item.size() != 2)
        fail(item, field + "." + key, "expected [number, number]");
      try {
        out.emplace_back(item[0].as<double>(), item[1].as<double>());
      } catch (const YAML::Exception&) {
        fail(item, field + "." + key, "expected [number, number]");
      }
    }
    return out;
  }

 private:
  std::filesystem::path file_;
};

inline YAML::Node load_yaml(std::string_view text, const std::filesystem::path& path) {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::ParserException& e) {
    throw Error(ErrorKind::invalid_argument, "not valid YAML: " + e.msg,
                path.string() + ":" + std::to_string(e.mark.line + 1) + ":" +
                    std::to_string(e.mark.column + 1));
  }
}

// Runs a parser, turning any yaml-cpp exception that escapes its checks into an Error naming the
// file and the place (a parser must end in a value or an edgeco::Error, never another exception).
template <class Parse>
auto guarded(const std::filesystem::path& path, Parse&& parse) -> decltype(parse()) {
  try {
    return parse();
  } catch (const YAML::Exception& e) {
    std::string where = path.string();
    if (!e.mark.is_null())
      where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    throw Error(ErrorKind::invalid_argument, "unexpected YAML: " + e.msg, where);
  }
}

}  // namespace edgeco::yaml
