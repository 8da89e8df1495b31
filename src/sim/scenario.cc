#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "edgeco/sim.h"
#include "hw/yaml_reader.h"

namespace edgeco::sim {

namespace fs = std::filesystem;
using yaml::Reader;

std::string_view to_string(Stream::Kind kind) {
  switch (kind) {
    case Stream::Kind::periodic:
      return "periodic";
    case Stream::Kind::poisson:
      return "poisson";
    case Stream::Kind::bursty:
      return "bursty";
    case Stream::Kind::trace:
      return "trace";
  }
  return "?";
}

namespace {

// Keys a mapping may hold: anything else is a typo the user should hear about.
void only_keys(const Reader& r, const YAML::Node& map, const std::string& field,
               std::initializer_list<std::string_view> keys) {
  if (!map.IsMap()) r.fail(map, field, "expected a mapping");
  for (const auto& kv : map) {
    const std::string key = r.key(kv.first, field.empty() ? "scenario" : field);
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      std::string known;
      for (auto k : keys) known += (known.empty() ? "" : ", ") + std::string(k);
      r.fail(kv.first, field.empty() ? key : field + "." + key,
             "unknown key (known: " + known + ")");
    }
  }
}

// A path in a scenario: beside the file, else from the repository root (scenarios/..).
fs::path resolve(const fs::path& file, const std::string& rel) {
  fs::path p(rel);
  if (p.is_absolute()) return p;
  std::error_code ec;
  fs::path beside = file.parent_path() / p;
  if (fs::exists(beside, ec)) return beside;
  return file.parent_path().parent_path() / p;
}

Stream parse_stream(const Reader& r, const YAML::Node& n, const std::string& field,
                    const fs::path& file) {
  only_keys(r, n, field,
            {"name", "kind", "count", "rate_hz", "jitter_ms", "quiet_rate_hz", "burst_rate_hz",
             "mean_quiet_s", "mean_burst_s", "trace"});
  Stream s;
  s.name = r.text(n, "name", field);
  const std::string f = field + "(" + s.name + ")";
  const std::string kind = r.text(n, "kind", f);
  if (kind == "periodic")
    s.kind = Stream::Kind::periodic;
  else if (kind == "poisson")
    s.kind = Stream::Kind::poisson;
  else if (kind == "bursty")
    s.kind = Stream::Kind::bursty;
  else if (kind == "trace")
    s.kind = Stream::Kind::trace;
  else
    r.fail(n["kind"], f + ".kind", "'" + kind + "' is not one of periodic, poisson, bursty, trace");
  const double count = r.number(n, "count", f, 1.0, 1.0);
  if (count != double(int(count)) || count > 1000)
    r.fail(n["count"], f + ".count", "must be an integer 1..1000");
  s.count = int(count);
  switch (s.kind) {
    case Stream::Kind::periodic:
    case Stream::Kind::poisson:
      s.rate_hz = r.number(n, "rate_hz", f, std::nullopt, 1e-6);
      if (s.rate_hz > 10000) r.fail(n["rate_hz"], f + ".rate_hz", "must be <= 10000");
      s.jitter_ms = r.number(n, "jitter_ms", f, 0.0);
      if (s.jitter_ms >= 1000 / s.rate_hz / 2)
        r.fail(n["jitter_ms"], f + ".jitter_ms", "must be less than half the frame period");
      break;
    case Stream::Kind::bursty:
      s.quiet_rate_hz = r.number(n, "quiet_rate_hz", f);
      s.burst_rate_hz = r.number(n, "burst_rate_hz", f, std::nullopt, 1e-6);
      s.mean_quiet_s = r.number(n, "mean_quiet_s", f, std::nullopt, 1e-3);
      s.mean_burst_s = r.number(n, "mean_burst_s", f, std::nullopt, 1e-3);
      if (s.burst_rate_hz > 10000 || s.quiet_rate_hz > 10000)
        r.fail(n, f, "rates must be <= 10000 Hz");
      break;
    case Stream::Kind::trace:
      s.trace_file = resolve(file, r.text(n, "trace", f));
      try {
        s.trace_s = parse_trace_csv(read_text_file(s.trace_file, "trace"), s.trace_file);
      } catch (const Error& e) {
        throw e.within(file.string() + ": " + f + ".trace");
      }
      break;
  }
  return s;
}

}  // namespace

std::vector<double> parse_trace_csv(std::string_view text, const fs::path& path) {
  std::vector<double> out;
  int column = -1;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      if (pos > text.size()) break;
      continue;
    }
    std::vector<std::string_view> cells;
    for (size_t c = 0;;) {
      const size_t comma = line.find(',', c);
      cells.push_back(line.substr(c, comma == std::string_view::npos ? line.npos : comma - c));
      if (comma == std::string_view::npos) break;
      c = comma + 1;
    }
    const std::string where = path.string() + ":" + std::to_string(line_no);
    if (column < 0) {
      for (size_t i = 0; i < cells.size(); ++i)
        if (cells[i] == "time_s") column = int(i);
      if (column < 0)
        throw Error(ErrorKind::invalid_argument, "the header names no 'time_s' column", where);
      continue;
    }
    if (size_t(column) >= cells.size())
      throw Error(ErrorKind::invalid_argument, "no time_s value on this row", where);
    const std::string cell(cells[size_t(column)]);
    char* parsed_end = nullptr;
    const double t = std::strtod(cell.c_str(), &parsed_end);
    if (cell.empty() || parsed_end != cell.c_str() + cell.size() || !std::isfinite(t) || t < 0)
      throw Error(ErrorKind::invalid_argument,
                  "time_s '" + cell.substr(0, 32) + "' is not a non-negative number", where);
    if (!out.empty() && t < out.back())
      throw Error(ErrorKind::invalid_argument, "times must not decrease", where);
    if (out.size() >= 50'000'000)
      throw Error(ErrorKind::invalid_argument, "more than 50 million arrivals", where);
    out.push_back(t);
  }
  if (column < 0)
    throw Error(ErrorKind::invalid_argument, "empty trace (no header)", path.string());
  if (out.empty())
    throw Error(ErrorKind::invalid_argument, "the trace has no arrivals", path.string());
  return out;
}

namespace {
Scenario parse_scenario_unguarded(std::string_view text, const fs::path& path);
}  // namespace

Scenario parse_scenario(std::string_view text, const fs::path& path) {
  return yaml::guarded(path, [&] { return parse_scenario_unguarded(text, path); });
}

namespace {
Scenario parse_scenario_unguarded(std::string_view text, const fs::path& path) {
  const YAML::Node root = yaml::load_yaml(text, path);
  const Reader r(path);
  only_keys(r, root, "",
            {"name", "description", "sources", "platform", "strategy", "hours",
             "control_interval_ms", "deadline_ms", "queue", "ambient", "enclosure_c_per_w",
             "battery", "streams", "variants", "reward", "fog"});
  Scenario s;
  s.file = path;
  s.name = r.text(root, "name", "scenario");
  s.description = r.text(root, "description", "scenario", std::string());
  s.sources = r.texts(root, "sources", "scenario");
  s.platform = r.text(root, "platform", "scenario");
  const std::string strategy = r.text(root, "strategy", "scenario", std::string("exact"));
  try {
    s.strategy = parse_strategy(strategy);
  } catch (const Error& e) {
    r.fail(root["strategy"], "strategy", e.message());
  }
  s.hours = r.number(root, "hours", "scenario", 1.0, 1e-6);
  if (s.hours > 24 * 366) r.fail(root["hours"], "hours", "must be at most a year (8784)");
  s.control_interval_ms = r.number(root, "control_interval_ms", "scenario", 100.0, 1.0);
  if (s.control_interval_ms > 60'000)
    r.fail(root["control_interval_ms"], "control_interval_ms", "must be <= 60000");
  s.deadline_ms = r.number(root, "deadline_ms", "scenario", std::nullopt, 1e-3);
  if (const YAML::Node q = r.child(root, "queue", "scenario", false)) {
    only_keys(r, q, "queue", {"capacity", "drop"});
    const double cap = r.number(q, "capacity", "queue", 4.0, 1.0);
    if (cap != double(int64_t(cap)) || cap > 1e6)
      r.fail(q["capacity"], "queue.capacity", "must be an integer 1..1000000");
    s.queue_capacity = int(cap);
    const std::string drop = r.text(q, "drop", "queue", std::string("oldest"));
    if (drop != "oldest" && drop != "newest")
      r.fail(q["drop"], "queue.drop", "'" + drop + "' is not one of oldest, newest");
    s.drop_oldest = drop == "oldest";
  }
  if (root["ambient"]) {
    s.ambient = r.pairs(root, "ambient", "scenario");
    for (size_t i = 0; i < s.ambient.size(); ++i) {
      const auto [h, c] = s.ambient[i];
      if (h < 0 || h > 24 || (i > 0 && h <= s.ambient[i - 1].first) || c < -60 || c > 100)
        r.fail(root["ambient"], "ambient", "points are [hour 0..24 ascending, celsius -60..100]");
    }
  }
  s.extra_resistance_c_per_w = r.number(root, "enclosure_c_per_w", "scenario", 0.0);
  if (const YAML::Node b = r.child(root, "battery", "scenario", false)) {
    only_keys(r, b, "battery", {"start_pct"});
    s.on_battery = true;
    s.battery_start_pct = r.number(b, "start_pct", "battery", 100.0, 0.0);
    if (s.battery_start_pct > 100) r.fail(b["start_pct"], "battery.start_pct", "must be <= 100");
  }
  if (const YAML::Node w = r.child(root, "reward", "scenario", false)) {
    only_keys(r, w, "reward",
              {"accuracy", "energy_per_j", "miss", "drop", "thermal_per_c", "thermal_margin_c",
               "reconfigure"});
    RewardWeights& rw = s.reward;
    rw.accuracy = r.number(w, "accuracy", "reward", rw.accuracy);
    rw.energy_per_j = r.number(w, "energy_per_j", "reward", rw.energy_per_j);
    rw.miss = r.number(w, "miss", "reward", rw.miss);
    rw.drop = r.number(w, "drop", "reward", rw.drop);
    rw.thermal_per_c = r.number(w, "thermal_per_c", "reward", rw.thermal_per_c);
    rw.thermal_margin_c = r.number(w, "thermal_margin_c", "reward", rw.thermal_margin_c);
    rw.reconfigure = r.number(w, "reconfigure", "reward", rw.reconfigure);
  }
  if (const YAML::Node f = r.child(root, "fog", "scenario", false)) {
    only_keys(
        r, f, "fog",
        {"platform", "bandwidth_mbps", "rtt_ms", "loss", "timeout_ms", "radio_watts", "outages_s"});
    Fog fog;
    fog.platform = r.text(f, "platform", "fog");
    fog.bandwidth_mbps = r.number(f, "bandwidth_mbps", "fog", std::nullopt, 1e-6);
    fog.rtt_ms = r.number(f, "rtt_ms", "fog", 0.0, 0.0);
    fog.loss = r.number(f, "loss", "fog", 0.0, 0.0);
    if (fog.loss > 1) r.fail(f["loss"], "fog.loss", "a probability 0..1");
    fog.timeout_ms = r.number(f, "timeout_ms", "fog", 200.0, 1e-3);
    fog.radio_watts = r.number(f, "radio_watts", "fog", 0.0, 0.0);
    if (f["outages_s"]) {
      fog.outages_s = r.pairs(f, "outages_s", "fog");
      for (const auto& [a, b] : fog.outages_s)
        if (a < 0 || b <= a)
          r.fail(f["outages_s"], "fog.outages_s", "windows are [start_s, end_s > start_s]");
    }
    s.fog = std::move(fog);
  }
  const YAML::Node streams = r.child(root, "streams", "scenario");
  if (!streams.IsSequence() || streams.size() == 0)
    r.fail(streams, "streams", "expected a non-empty list");
  for (size_t i = 0; i < streams.size(); ++i)
    s.streams.push_back(parse_stream(r, streams[i], "streams[" + std::to_string(i) + "]", path));
  const YAML::Node variants = r.child(root, "variants", "scenario");
  if (!variants.IsSequence() || variants.size() == 0)
    r.fail(variants, "variants", "expected a non-empty list");
  std::set<std::string> names;
  for (size_t i = 0; i < variants.size(); ++i) {
    const YAML::Node v = variants[i];
    const std::string f = "variants[" + std::to_string(i) + "]";
    only_keys(r, v, f, {"name", "family", "model", "resolution_px", "accuracy", "accuracy_source"});
    Variant out;
    out.name = r.text(v, "name", f);
    if (!names.insert(out.name).second)
      r.fail(v["name"], f + ".name", "a second variant named '" + out.name + "'");
    out.family = r.text(v, "family", f, out.name);
    out.model = resolve(path, r.text(v, "model", f));
    const double px = r.number(v, "resolution_px", f, std::nullopt, 1.0);
    if (px != double(int(px)) || px > 8192)
      r.fail(v["resolution_px"], f + ".resolution_px", "must be an integer 1..8192");
    out.resolution_px = int(px);
    out.accuracy = r.number(v, "accuracy", f);
    if (out.accuracy > 1)
      r.fail(v["accuracy"], f + ".accuracy", "a fraction 0..1 (top-1 as measured by edgeco eval)");
    out.accuracy_source = r.text(v, "accuracy_source", f);
    s.variants.push_back(std::move(out));
  }
  return s;
}
}  // namespace

Scenario load_scenario(const fs::path& path) {
  return parse_scenario(read_text_file(path, "scenario file"), path);
}

fs::path scenario_dir() {
  if (const char* dir = std::getenv("EDGECO_SCENARIOS")) return dir;
  return EDGECO_SCENARIO_DIR;
}

std::vector<std::string> scenario_names() {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(scenario_dir(), ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".yaml") out.push_back(it->path().stem().string());
  std::sort(out.begin(), out.end());
  return out;
}

Scenario find_scenario(std::string_view name_or_path) {
  const fs::path preset = scenario_dir() / (std::string(name_or_path) + ".yaml");
  std::error_code ec;
  if (name_or_path.find('/') == std::string_view::npos && fs::exists(preset, ec))
    return load_scenario(preset);
  const fs::path p(name_or_path);
  if (fs::exists(p, ec)) return load_scenario(p);
  std::string known;
  for (const auto& n : scenario_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error(ErrorKind::invalid_argument, "no scenario '" + std::string(name_or_path) +
                                               "' (presets: " + known +
                                               "; or a path to a .yaml file)");
}

}  // namespace edgeco::sim
