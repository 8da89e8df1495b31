#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "edgeco/hw.h"
#include "hw/yaml_reader.h"

namespace edgeco::hw {
namespace {

using yaml::load_yaml;
using yaml::Reader;

template <typename E>
E parse_enum(const Reader& r, const YAML::Node& at, const std::string& field,
             const std::string& value, std::initializer_list<E> all) {
  std::string known;
  for (E e : all) {
    if (to_string(e) == value) return e;
    known += (known.empty() ? "" : ", ") + std::string(to_string(e));
  }
  r.fail(at, field, "'" + value + "' is not one of " + known);
}

constexpr std::initializer_list<OpClass> kClasses{
    OpClass::dense_conv, OpClass::depthwise_conv, OpClass::matmul,       OpClass::elementwise,
    OpClass::pooling,    OpClass::other,          OpClass::winograd_conv};
constexpr std::initializer_list<NumType> kTypes{NumType::int8, NumType::fp16, NumType::fp32};

Device parse_device(const Reader& r, const YAML::Node& d, const std::string& field) {
  Device dev;
  dev.name = r.text(d, "name", field);
  const std::string f = field + "(" + dev.name + ")";
  dev.kind = parse_enum(r, d["kind"] ? d["kind"] : d, f + ".kind", r.text(d, "kind", f),
                        {DeviceKind::cpu, DeviceKind::gpu, DeviceKind::npu, DeviceKind::fpga});
  if (!dev.name.starts_with(to_string(dev.kind)))
    r.fail(d, f + ".name",
           "a device's name starts with its kind ('" + std::string(to_string(dev.kind)) + "')");
  for (const auto& [mhz, mv] : r.pairs(d, "opps_mhz_mv", f)) {
    if (!(mhz > 0) || !(mv > 0)) r.fail(d["opps_mhz_mv"], f + ".opps_mhz_mv", "must be positive");
    dev.opps.push_back({mhz, mv / 1000.0});
  }
  std::sort(dev.opps.begin(), dev.opps.end(),
            [](const auto& a, const auto& b) { return a.mhz < b.mhz; });
  dev.capacitance_nf = r.number(d, "capacitance_nf", f);
  dev.activity = r.number(d, "activity", f, 1.0);
  const YAML::Node leak = r.child(d, "leakage", f);
  dev.leakage_w = r.number(leak, "watts", f + ".leakage");
  dev.leakage_ref_volts = r.number(leak, "ref_volts", f + ".leakage", std::nullopt, 0.1);
  dev.leakage_doubling_c = r.number(leak, "doubling_c", f + ".leakage", 25.0, 1.0);
  const YAML::Node rates = r.child(d, "macs_per_cycle", f);
  if (!rates.IsMap() || rates.size() == 0)
    r.fail(rates, f + ".macs_per_cycle", "expected a mapping of types");
  for (const auto& type : rates) {
    const std::string type_name = r.key(type.first, f + ".macs_per_cycle");
    const std::string tf = f + ".macs_per_cycle." + type_name;
    const NumType t = parse_enum(r, type.first, tf, type_name, kTypes);
    if (!type.second.IsMap()) r.fail(type.second, tf, "expected a mapping of operator classes");
    for (const auto& cls : type.second) {
      const std::string class_name = r.key(cls.first, tf);
      const std::string cf = tf + "." + class_name;
      const OpClass c = parse_enum(r, cls.first, cf, class_name, kClasses);
      dev.macs_per_cycle[t][c] = r.number(type.second, class_name, tf, std::nullopt, 1e-9);
    }
  }
  const YAML::Node mem = r.child(d, "memory", f);
  dev.onchip_bytes = r.number(mem, "onchip_kib", f + ".memory") * 1024;
  dev.onchip_gbps = r.number(mem, "onchip_gbps", f + ".memory", std::nullopt, 1e-6);
  dev.dram_gbps = r.number(mem, "dram_gbps", f + ".memory", std::nullopt, 1e-6);
  dev.onchip_pj_per_byte = r.number(mem, "onchip_pj_per_byte", f + ".memory");
  dev.dram_pj_per_byte = r.number(mem, "dram_pj_per_byte", f + ".memory");
  dev.llc_bytes = r.number(mem, "llc_kib", f + ".memory", 0.0) * 1024;
  if (dev.llc_bytes > 0) {
    if (dev.llc_bytes <= dev.onchip_bytes)
      r.fail(mem["llc_kib"], f + ".memory.llc_kib", "must exceed onchip_kib (a level beyond it)");
    dev.llc_gbps = r.number(mem, "llc_gbps", f + ".memory", std::nullopt, 1e-6);
    dev.llc_pj_per_byte = r.number(mem, "llc_pj_per_byte", f + ".memory");
  }
  dev.overhead_us = r.number(d, "overhead_us", f, 0.0);
  dev.transcendental_per_cycle = r.number(d, "transcendental_per_cycle", f, 0.0);
  if (const YAML::Node overlap = r.child(d, "memory_overlap", f, false)) {
    const std::string text = overlap.IsScalar() ? overlap.Scalar() : "";
    double fraction = -1;
    if (text == "true" || text == "false") {
      fraction = text == "true" ? 1.0 : 0.0;
    } else {
      try {
        fraction = overlap.as<double>();
      } catch (const YAML::Exception&) {
      }
    }
    if (!(fraction >= 0 && fraction <= 1))  // also NaN
      r.fail(overlap, f + ".memory_overlap", "must be true, false or a fraction in [0, 1]");
    dev.memory_overlap = fraction;
  }
  const YAML::Node ops = r.child(d, "ops", f, false);
  if (ops && !(ops.IsScalar() && ops.as<std::string>() == "all"))
    for (const auto& op : r.texts(d, "ops", f)) dev.ops.insert(op);
  dev.sources = r.texts(d, "sources", f);
  return dev;
}

}  // namespace

std::string_view to_string(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::cpu:
      return "cpu";
    case DeviceKind::gpu:
      return "gpu";
    case DeviceKind::npu:
      return "npu";
    case DeviceKind::fpga:
      return "fpga";
  }
  return "?";
}

std::string_view to_string(OpClass c) {
  switch (c) {
    case OpClass::dense_conv:
      return "dense_conv";
    case OpClass::depthwise_conv:
      return "depthwise_conv";
    case OpClass::matmul:
      return "matmul";
    case OpClass::elementwise:
      return "elementwise";
    case OpClass::pooling:
      return "pooling";
    case OpClass::other:
      return "other";
    case OpClass::winograd_conv:
      return "winograd_conv";
  }
  return "?";
}

bool Device::supports(NumType t, std::string_view op_type) const {
  const auto it = macs_per_cycle.find(t);
  if (it == macs_per_cycle.end()) return false;
  return ops.empty() || ops.count(std::string(op_type)) > 0;
}

std::optional<NumType> Device::run_type(const NodeWork& w) const {
  for (NumType t : {w.type, NumType::fp16, NumType::fp32}) {
    if (t != w.type && w.type != NumType::int8) break;
    if (supports(t, w.op_type) && rate(t, w.op_class)) return t;
  }
  return std::nullopt;
}

std::optional<double> Device::rate(NumType t, OpClass c) const {
  const auto type = macs_per_cycle.find(t);
  if (type == macs_per_cycle.end()) return std::nullopt;
  if (const auto it = type->second.find(c); it != type->second.end()) return it->second;
  if (c == OpClass::winograd_conv) return rate(t, OpClass::dense_conv);
  return std::nullopt;
}

double Device::dynamic_watts(const OperatingPoint& p) const {
  return capacitance_nf * p.volts * p.volts * p.mhz * 1e-3 * activity;
}

double Device::leakage_watts(const OperatingPoint& p, double celsius) const {
  return leakage_w * (p.volts / leakage_ref_volts) *
         std::exp2((celsius - 25.0) / leakage_doubling_c);
}

double idle_watts(const Platform& platform, double celsius) {
  double watts = platform.static_watts;
  for (const Device& d : platform.devices) watts += d.leakage_watts(d.opps.front(), celsius);
  return watts;
}

const Device& Platform::device(std::string_view n) const {
  for (const Device& d : devices)
    if (d.name == n) return d;
  throw Error(ErrorKind::invalid_argument, "no device '" + std::string(n) + "'", name);
}

Platform load_platform(const std::filesystem::path& path) {
  return parse_platform(read_text_file(path, "platform file"), path);
}

namespace {

// `over` laid over `base`: mappings merge key by key, anything else replaces; in `devices`, a
// device of the same name merges with the base's, a new one is appended.
YAML::Node overlay(const YAML::Node& base, const YAML::Node& over, bool top) {
  // The overriding file's nodes are used as they are, so errors in them keep their line.
  if (!base.IsMap() || !over.IsMap()) return over;
  YAML::Node out = YAML::Clone(base);
  for (const auto& kv : over) {
    const std::string key = kv.first.as<std::string>();
    if (top && key == "extends") continue;
    const YAML::Node mine = out[key];
    if (top && key == "devices" && mine && mine.IsSequence() && kv.second.IsSequence()) {
      YAML::Node devices(YAML::NodeType::Sequence);
      std::vector<bool> replaced(kv.second.size(), false);
      for (const auto& b : mine) {
        std::optional<size_t> match;
        for (size_t i = 0; i < kv.second.size() && !match; ++i) {
          const YAML::Node d = kv.second[i];
          if (d.IsMap() && d["name"] && b.IsMap() && b["name"] &&
              d["name"].as<std::string>() == b["name"].as<std::string>())
            match = i;
        }
        if (match) replaced[*match] = true;
        devices.push_back(match ? overlay(b, kv.second[*match], false) : YAML::Node(b));
      }
      for (size_t i = 0; i < kv.second.size(); ++i)
        if (!replaced[i]) devices.push_back(kv.second[i]);
      out[key] = devices;
    } else {
      out[key] = mine ? overlay(mine, kv.second, false) : kv.second;
    }
  }
  return out;
}

// A platform file with `extends: NAME` is laid over NAME (a file beside it, then a preset):
// presets that share a board say so once.
YAML::Node resolve_extends(YAML::Node root, const std::filesystem::path& path, int depth) {
  if (!root.IsMap() || !root["extends"]) return root;
  const Reader r(path);
  if (depth >= 8) r.fail(root["extends"], "extends", "more than 8 files deep (a cycle?)");
  if (!root["extends"].IsScalar()) r.fail(root["extends"], "extends", "expected a name");
  const std::string name = root["extends"].as<std::string>();
  std::filesystem::path base = path.parent_path() / (name + ".yaml");
  if (!std::filesystem::exists(base)) base = platform_dir() / (name + ".yaml");
  if (!std::filesystem::exists(base)) base = name;
  std::string text;
  try {
    text = read_text_file(base, "platform file");
  } catch (const Error& e) {
    r.fail(root["extends"], "extends", "cannot read '" + name + "': " + e.message());
  }
  const YAML::Node parent = resolve_extends(load_yaml(text, base), base, depth + 1);
  try {
    return overlay(parent, root, true);
  } catch (const YAML::Exception& e) {
    r.fail(root, "extends", "cannot lay this file over '" + name + "': " + e.msg);
  }
}

}  // namespace

namespace {
Platform parse_platform_unguarded(std::string_view text, const std::filesystem::path& path);
}  // namespace

Platform parse_platform(std::string_view text, const std::filesystem::path& path) {
  return yaml::guarded(path, [&] { return parse_platform_unguarded(text, path); });
}

namespace {
Platform parse_platform_unguarded(std::string_view text, const std::filesystem::path& path) {
  const YAML::Node root = resolve_extends(load_yaml(text, path), path, 0);
  const Reader r(path);
  if (!root.IsMap()) r.fail(root, "platform", "expected a mapping at the top");
  Platform p;
  p.file = path;
  p.name = r.text(root, "name", "platform");
  p.description = r.text(root, "description", "platform", "");
  p.sources = r.texts(root, "sources", "platform");
  p.static_watts = r.number(root, "static_watts", "platform");
  const YAML::Node link = r.child(root, "interconnect", "platform");
  p.interconnect_gbps = r.number(link, "gbps", "interconnect", std::nullopt, 1e-6);
  p.interconnect_pj_per_byte = r.number(link, "pj_per_byte", "interconnect");
  const YAML::Node th = r.child(root, "thermal", "platform");
  p.thermal = {r.number(th, "ambient_c", "thermal", std::nullopt, -60),
               r.number(th, "resistance_c_per_w", "thermal"),
               r.number(th, "capacitance_j_per_c", "thermal"),
               r.number(th, "throttle_c", "thermal"), r.number(th, "shutdown_c", "thermal")};
  const YAML::Node bat = r.child(root, "battery", "platform");
  p.battery.capacity_mah = r.number(bat, "capacity_mah", "battery");
  p.battery.internal_ohm = r.number(bat, "internal_ohm", "battery");
  p.battery.voltage_curve = r.pairs(bat, "voltage_curve", "battery");
  const YAML::Node devices = r.child(root, "devices", "platform");
  if (!devices.IsSequence() || devices.size() == 0)
    r.fail(devices, "devices", "expected a non-empty list");
  std::set<std::string> names;
  for (size_t i = 0; i < devices.size(); ++i) {
    Device d = parse_device(r, devices[i], "devices[" + std::to_string(i) + "]");
    if (!names.insert(d.name).second)
      r.fail(devices[i], "devices[" + std::to_string(i) + "].name", "'" + d.name + "' twice");
    p.devices.push_back(std::move(d));
  }
  return p;
}
}  // namespace

namespace {

// Numbers as the shortest text that reads back to the same double.
std::string number(double v) {
  char text[32];
  for (int digits = 6; digits <= 17; ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, v);
    if (std::strtod(text, nullptr) == v) break;
  }
  return text;
}

std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string quoted_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + quoted(items[i]);
  return out + "]";
}

class YamlWriter {
 public:
  explicit YamlWriter(const Platform& p) : notes_(p.notes) {}
  // `key: value`, with the note of `path` beside it.
  void line(int indent, const std::string& key, const std::string& value, const std::string& path) {
    out_ << std::string(size_t(indent), ' ') << key << ":" << (value.empty() ? "" : " " + value);
    if (auto it = notes_.find(path); it != notes_.end()) out_ << "   # " << it->second;
    out_ << "\n";
  }
  std::ostringstream& out() { return out_; }

 private:
  const std::map<std::string, std::string>& notes_;
  std::ostringstream out_;
};

}  // namespace

std::string to_yaml(const Platform& p) {
  YamlWriter w(p);
  std::istringstream header(p.header);
  for (std::string l; std::getline(header, l);)
    w.out() << "#" << (l.empty() ? "" : " " + l) << "\n";
  w.line(0, "name", quoted(p.name), "name");
  w.line(0, "description", quoted(p.description), "description");
  w.line(0, "sources", quoted_list(p.sources), "sources");
  w.line(0, "static_watts", number(p.static_watts), "static_watts");
  w.line(0, "interconnect", "", "interconnect");
  w.line(2, "gbps", number(p.interconnect_gbps), "interconnect.gbps");
  w.line(2, "pj_per_byte", number(p.interconnect_pj_per_byte), "interconnect.pj_per_byte");
  w.line(0, "thermal", "", "thermal");
  w.line(2, "ambient_c", number(p.thermal.ambient_c), "thermal.ambient_c");
  w.line(2, "resistance_c_per_w", number(p.thermal.resistance_c_per_w),
         "thermal.resistance_c_per_w");
  w.line(2, "capacitance_j_per_c", number(p.thermal.capacitance_j_per_c),
         "thermal.capacitance_j_per_c");
  w.line(2, "throttle_c", number(p.thermal.throttle_c), "thermal.throttle_c");
  w.line(2, "shutdown_c", number(p.thermal.shutdown_c), "thermal.shutdown_c");
  w.line(0, "battery", "", "battery");
  w.line(2, "capacity_mah", number(p.battery.capacity_mah), "battery.capacity_mah");
  w.line(2, "internal_ohm", number(p.battery.internal_ohm), "battery.internal_ohm");
  std::string curve = "[";
  for (size_t i = 0; i < p.battery.voltage_curve.size(); ++i)
    curve += std::string(i ? ", " : "") + "[" + number(p.battery.voltage_curve[i].first) + ", " +
             number(p.battery.voltage_curve[i].second) + "]";
  w.line(2, "voltage_curve", curve + "]", "battery.voltage_curve");
  w.line(0, "devices", "", "devices");
  for (size_t i = 0; i < p.devices.size(); ++i) {
    const Device& d = p.devices[i];
    const std::string at = "devices[" + std::to_string(i) + "].";
    w.out() << "  - name: " << quoted(d.name) << "\n";
    w.line(4, "kind", std::string(to_string(d.kind)), at + "kind");
    std::string opps = "[";
    for (size_t k = 0; k < d.opps.size(); ++k)
      opps += std::string(k ? ", " : "") + "[" + number(d.opps[k].mhz) + ", " +
              number(d.opps[k].volts * 1000) + "]";
    w.line(4, "opps_mhz_mv", opps + "]", at + "opps_mhz_mv");
    w.line(4, "capacitance_nf", number(d.capacitance_nf), at + "capacitance_nf");
    w.line(4, "activity", number(d.activity), at + "activity");
    w.line(4, "leakage",
           "{watts: " + number(d.leakage_w) + ", ref_volts: " + number(d.leakage_ref_volts) +
               ", doubling_c: " + number(d.leakage_doubling_c) + "}",
           at + "leakage");
    w.line(4, "macs_per_cycle", "", at + "macs_per_cycle");
    for (const auto& [type, classes] : d.macs_per_cycle) {
      std::string rates = "{";
      bool first = true;
      for (const auto& [cls, rate] : classes) {
        rates += std::string(first ? "" : ", ") + std::string(to_string(cls)) + ": " + number(rate);
        first = false;
      }
      w.line(6, std::string(to_string(type)), rates + "}",
             at + "macs_per_cycle." + std::string(to_string(type)));
    }
    w.line(4, "memory", "", at + "memory");
    w.line(6, "onchip_kib", number(d.onchip_bytes / 1024), at + "memory.onchip_kib");
    w.line(6, "onchip_gbps", number(d.onchip_gbps), at + "memory.onchip_gbps");
    w.line(6, "dram_gbps", number(d.dram_gbps), at + "memory.dram_gbps");
    w.line(6, "onchip_pj_per_byte", number(d.onchip_pj_per_byte), at + "memory.onchip_pj_per_byte");
    w.line(6, "dram_pj_per_byte", number(d.dram_pj_per_byte), at + "memory.dram_pj_per_byte");
    if (d.llc_bytes > 0) {
      w.line(6, "llc_kib", number(d.llc_bytes / 1024), at + "memory.llc_kib");
      w.line(6, "llc_gbps", number(d.llc_gbps), at + "memory.llc_gbps");
      w.line(6, "llc_pj_per_byte", number(d.llc_pj_per_byte), at + "memory.llc_pj_per_byte");
    }
    w.line(4, "overhead_us", number(d.overhead_us), at + "overhead_us");
    w.line(4, "transcendental_per_cycle", number(d.transcendental_per_cycle),
           at + "transcendental_per_cycle");
    w.line(4, "memory_overlap", number(d.memory_overlap), at + "memory_overlap");
    w.line(
        4, "ops",
        d.ops.empty() ? "all" : quoted_list(std::vector<std::string>(d.ops.begin(), d.ops.end())),
        at + "ops");
    if (!d.sources.empty()) w.line(4, "sources", quoted_list(d.sources), at + "sources");
  }
  return w.out().str();
}

std::filesystem::path platform_dir() {
  if (const char* env = std::getenv("EDGECO_PLATFORMS")) return env;
  return EDGECO_PLATFORM_DIR;
}

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(platform_dir(), ec))
    if (entry.path().extension() == ".yaml") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::filesystem::path host_platform_path() {
  if (const char* env = std::getenv("EDGECO_HOST_PLATFORM"); env && *env) return env;
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg)
    return std::filesystem::path(xdg) / "edgeco" / "host.yaml";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::filesystem::path(home) / ".config" / "edgeco" / "host.yaml";
  return "edgeco-host.yaml";
}

Platform find_platform(std::string_view name_or_path) {
  if (name_or_path == "host" && std::filesystem::exists(host_platform_path()))
    return load_platform(host_platform_path());
  const std::filesystem::path preset = platform_dir() / (std::string(name_or_path) + ".yaml");
  if (std::filesystem::exists(preset)) return load_platform(preset);
  if (std::filesystem::exists(name_or_path)) return load_platform(name_or_path);
  std::string known;
  for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error(ErrorKind::invalid_argument, "neither a preset (" + known + ") nor a YAML file",
              std::string(name_or_path));
}

Cost node_cost(const Device& d, const OperatingPoint& opp, const NodeWork& w, double celsius) {
  const std::optional<double> rate = d.rate(w.type, w.op_class);
  if (!rate)
    throw Error(ErrorKind::unsupported,
                "no throughput for " + std::string(to_string(w.type)) + " " +
                    std::string(to_string(w.op_class)),
                d.name + " (" + w.op_type + ")");
  Cost cost;
  cost.compute_ms = double(w.macs) / (*rate * opp.mhz * 1e6) * 1e3;
  if (d.transcendental_per_cycle > 0)
    cost.compute_ms +=
        double(w.transcendental_elements) / (d.transcendental_per_cycle * opp.mhz * 1e6) * 1e3;
  const double bytes = double(w.bytes_read + w.bytes_written);
  // Tensors that fit on chip move at its bandwidth, the weights read from DRAM on their way
  // there; a cascade keeps part of the activations of larger ones on chip; the rest moves at the
  // last-level cache's bandwidth where the tensors fit it (weights still from DRAM), else at
  // DRAM's.
  cost.onchip = bytes <= d.onchip_bytes;
  const double weights = std::clamp(double(w.weight_bytes), 0.0, bytes);
  if (cost.onchip) {
    cost.onchip_bytes = bytes;
    cost.dram_bytes = weights;
  } else {
    cost.onchip_bytes = std::clamp(double(w.onchip_activation_bytes), 0.0, bytes);
    const bool in_llc = d.llc_bytes > 0 && bytes <= d.llc_bytes;
    cost.llc_bytes = in_llc ? std::max(bytes - weights - cost.onchip_bytes, 0.0) : 0.0;
    cost.dram_bytes = bytes - cost.onchip_bytes - cost.llc_bytes;
  }
  cost.memory_ms =
      (cost.dram_bytes / (d.dram_gbps * 1e9) + cost.onchip_bytes / (d.onchip_gbps * 1e9) +
       (cost.llc_bytes > 0 ? cost.llc_bytes / (d.llc_gbps * 1e9) : 0.0)) *
      1e3;
  cost.memory_bound = cost.memory_ms > cost.compute_ms;
  // Depthwise, element-wise, pooling and matmul rates are those of streaming passes (a few
  // operations per byte: a batch-1 Gemm reads each weight once), their memory time included: on a
  // device with partial or no overlap only the convolutions add (part of) their memory time to
  // their compute time.
  const bool streaming = w.op_class != OpClass::dense_conv && w.op_class != OpClass::winograd_conv;
  const double overlap = streaming ? 1.0 : d.memory_overlap;
  cost.latency_ms = std::max(cost.compute_ms, cost.memory_ms) +
                    (1.0 - overlap) * std::min(cost.compute_ms, cost.memory_ms) +
                    d.overhead_us * 1e-3;
  const double watts = d.dynamic_watts(opp) + d.leakage_watts(opp, celsius);
  cost.energy_mj = watts * cost.latency_ms +
                   (cost.dram_bytes * d.dram_pj_per_byte +
                    cost.onchip_bytes * d.onchip_pj_per_byte + cost.llc_bytes * d.llc_pj_per_byte) *
                       1e-9;
  return cost;
}

Cost transfer_cost(const Platform& p, const Device& from, const Device& to, int64_t bytes) {
  Cost cost;
  if (&from == &to || from.name == to.name || bytes <= 0) return cost;
  cost.memory_ms = double(bytes) / (p.interconnect_gbps * 1e9) * 1e3;
  cost.latency_ms = cost.memory_ms;
  cost.memory_bound = true;
  cost.energy_mj = double(bytes) * p.interconnect_pj_per_byte * 1e-9;
  return cost;
}

}  // namespace edgeco::hw
