#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <fstream>
#include <regex>
#include <sstream>
#include <system_error>

#include "edgeco/power.h"

namespace edgeco::power {

namespace fs = std::filesystem;

std::optional<double> Snapshot::reading(std::string_view name) const {
  for (const Reading& r : readings)
    if (r.name == name) return r.value;
  return std::nullopt;
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' ||
                        s.front() == '\r' || s.front() == '\0'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' ||
                        s.back() == '\r' || s.back() == '\0'))
    s.remove_suffix(1);
  return s;
}

std::string shown(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 32)) out += (c >= 32 && c < 127) ? c : '?';
  if (text.size() > 32) out += "...";
  return out;
}

// Parses one whole integer token (sysfs prints integers; a sign is allowed).
std::optional<double> parse_integer(std::string_view token) {
  int64_t v = 0;
  const char* first = token.data();
  const char* last = token.data() + token.size();
  if (first != last && *first == '+') ++first;
  const auto [ptr, ec] = std::from_chars(first, last, v);
  if (ec != std::errc() || ptr != last || first == last) return std::nullopt;
  return double(v);
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

std::optional<double> parse_sysfs_number(std::string_view text, double min, double max,
                                         std::string* why) {
  const std::string_view t = trim(text);
  if (t.empty()) {
    if (why) *why = "empty";
    return std::nullopt;
  }
  const std::optional<double> v = parse_integer(t);
  if (!v) {
    if (why) *why = "bad value '" + shown(t) + "' (not an integer)";
    return std::nullopt;
  }
  if (*v < min || *v > max) {
    if (why) *why = "bad value '" + shown(t) + "' (out of range)";
    return std::nullopt;
  }
  return v;
}

std::optional<std::vector<double>> parse_sysfs_list(std::string_view text, std::string* why) {
  std::vector<double> out;
  std::string_view rest = trim(text);
  while (!rest.empty()) {
    const size_t end = rest.find_first_of(" \t\n");
    const std::string_view token = rest.substr(0, end);
    const std::optional<double> v = parse_integer(token);
    if (!v || *v <= 0) {
      if (why) *why = "bad value '" + shown(token) + "' in a frequency list";
      return std::nullopt;
    }
    out.push_back(*v);
    rest = end == std::string_view::npos ? std::string_view{} : trim(rest.substr(end));
  }
  if (out.empty()) {
    if (why) *why = "empty";
    return std::nullopt;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::optional<std::pair<double, double>> parse_proc_stat(std::string_view text, std::string* why) {
  // The first line: "cpu  user nice system idle iowait irq softirq steal guest guest_nice".
  const std::string_view line = text.substr(0, text.find('\n'));
  if (!line.starts_with("cpu ")) {
    if (why) *why = "no aggregate 'cpu' line";
    return std::nullopt;
  }
  std::vector<double> fields;
  std::string_view rest = trim(line.substr(3));
  while (!rest.empty()) {
    const size_t end = rest.find_first_of(" \t");
    const std::optional<double> v = parse_integer(rest.substr(0, end));
    if (!v || *v < 0) {
      if (why) *why = "bad value '" + shown(rest.substr(0, end)) + "' on the cpu line";
      return std::nullopt;
    }
    fields.push_back(*v);
    rest = end == std::string_view::npos ? std::string_view{} : trim(rest.substr(end));
  }
  if (fields.size() < 4) {
    if (why) *why = "the cpu line has fewer than 4 fields";
    return std::nullopt;
  }
  // guest and guest_nice are already counted in user and nice.
  double total = 0;
  for (size_t i = 0; i < std::min<size_t>(fields.size(), 8); ++i) total += fields[i];
  const double idle = fields[3] + (fields.size() > 4 ? fields[4] : 0);
  return std::make_pair(total - idle, total);
}

double counter_delta(double before, double after, double range) {
  if (after >= before) return after - before;
  return range > 0 ? after + (range - before) : 0;
}

namespace {

// One pass over the tree: reads files, appends readings and what is missing.
class Scan {
 public:
  Scan(const fs::path& root, Snapshot& out) : root_(root), out_(out) {}

  fs::path at(std::string_view rel) const { return root_ / rel; }

  // The folder's entries whose names match `pattern`, sorted by name (natural for numbers).
  std::vector<fs::path> entries(const fs::path& dir, const std::regex& pattern) const {
    std::vector<fs::path> out;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (std::regex_match(name, pattern)) out.push_back(it->path());
    }
    std::sort(out.begin(), out.end(), [](const fs::path& a, const fs::path& b) {
      const std::string x = a.filename().string(), y = b.filename().string();
      return x.size() != y.size() ? x.size() < y.size() : x < y;
    });
    return out;
  }

  // A file's text, or nullopt with `why`.
  std::optional<std::string> text(const fs::path& file, std::string* why) const {
    std::error_code ec;
    if (!fs::exists(file, ec)) {
      *why = "absent";
      return std::nullopt;
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      *why = "unreadable";
      return std::nullopt;
    }
    // sysfs attributes are at most a page; a bigger file is not one.
    std::string s(4096, '\0');
    in.read(s.data(), std::streamsize(s.size()));
    s.resize(size_t(in.gcount()));
    if (in.bad()) {
      *why = "unreadable";
      return std::nullopt;
    }
    return s;
  }

  std::optional<std::string> word(const fs::path& file, std::string_view what) {
    std::string why;
    std::optional<std::string> t = text(file, &why);
    if (!t) {
      miss(what, file, why);
      return std::nullopt;
    }
    const std::string w(trim(*t));
    if (w.empty() || w.size() > 64) {
      miss(what, file, w.empty() ? "empty" : "bad value (too long)");
      return std::nullopt;
    }
    return w;
  }

  std::optional<double> number(const fs::path& file, std::string_view what, double min, double max,
                               bool report_absent = true) {
    std::string why;
    const std::optional<std::string> t = text(file, &why);
    if (!t) {
      if (report_absent || why != "absent") miss(what, file, why);
      return std::nullopt;
    }
    const std::optional<double> v = parse_sysfs_number(*t, min, max, &why);
    if (!v) miss(what, file, why);
    return v;
  }

  std::optional<std::vector<double>> list(const fs::path& file, std::string_view what) {
    std::string why;
    const std::optional<std::string> t = text(file, &why);
    if (!t) {
      miss(what, file, why);
      return std::nullopt;
    }
    std::optional<std::vector<double>> v = parse_sysfs_list(*t, &why);
    if (!v) miss(what, file, why);
    return v;
  }

  void add(std::string name, double value, std::string unit) {
    out_.readings.push_back({std::move(name), value, std::move(unit)});
  }
  void miss(std::string_view what, const fs::path& path, std::string why) {
    out_.missing.push_back({std::string(what), path.string(), std::move(why)});
  }

 private:
  fs::path root_;
  Snapshot& out_;
};

// Plausible ranges: a sysfs file outside them is broken, not a reading.
constexpr double kMaxMillicelsius = 200'000, kMinMillicelsius = -273'000;
constexpr double kMaxHz = 1e11;     // 100 GHz
constexpr double kMaxMicro = 1e12;  // µW, µV, µA, µWh: a megawatt-scale figure is garbage
constexpr double kMaxMilli = 1e9;   // mW, mV, mA

void read_thermal(Scan& s, Snapshot& out) {
  const fs::path dir = s.at("sys/class/thermal");
  const auto zones = s.entries(dir, std::regex("thermal_zone[0-9]+"));
  if (zones.empty()) s.miss("thermal zones", dir, "absent");
  for (const fs::path& zone : zones) {
    const std::optional<std::string> type = s.word(zone / "type", "thermal zone type");
    if (!type) continue;
    const std::optional<double> milli =
        s.number(zone / "temp", "thermal/" + *type, kMinMillicelsius, kMaxMillicelsius);
    if (!milli) continue;
    const double c = *milli / 1000.0;
    s.add("thermal/" + *type, c, "C");
    if (std::isnan(out.temperature_c) || c > out.temperature_c) out.temperature_c = c;
  }
}

void read_power_supplies(Scan& s, Snapshot& out) {
  const fs::path dir = s.at("sys/class/power_supply");
  const auto supplies = s.entries(dir, std::regex("[^.].*"));
  bool battery = false;
  for (const fs::path& supply : supplies) {
    const std::optional<std::string> type = s.word(supply / "type", "power supply type");
    if (!type || *type != "Battery") continue;
    battery = true;
    const std::string base = "battery/" + supply.filename().string();
    if (auto pct = s.number(supply / "capacity", base + "/capacity", 0, 100)) {
      s.add(base + "/capacity", *pct, "%");
      out.battery_pct = *pct;
    }
    if (auto uwh = s.number(supply / "energy_now", base + "/energy", 0, kMaxMicro, false))
      s.add(base + "/energy", *uwh * 1e-6, "Wh");
    // power_now is not in the ABI; where absent, voltage x current (current may be signed).
    if (auto uw = s.number(supply / "power_now", base + "/power", -kMaxMicro, kMaxMicro, false)) {
      s.add(base + "/power", std::abs(*uw) * 1e-6, "W");
    } else {
      const auto uv = s.number(supply / "voltage_now", base + "/power (voltage_now)", 0, kMaxMicro);
      const auto ua =
          s.number(supply / "current_now", base + "/power (current_now)", -kMaxMicro, kMaxMicro);
      if (uv && ua) s.add(base + "/power", std::abs(*uv * 1e-6 * *ua * 1e-6), "W");
    }
  }
  if (!battery) s.miss("batteries", dir, supplies.empty() ? "absent" : "no supply of type Battery");
}

void read_cpufreq(Scan& s, Snapshot& out) {
  const fs::path dir = s.at("sys/devices/system/cpu");
  bool any = false;
  for (const fs::path& cpu : s.entries(dir, std::regex("cpu[0-9]+"))) {
    const fs::path f = cpu / "cpufreq";
    std::error_code ec;
    if (!fs::is_directory(f, ec)) continue;
    any = true;
    const std::string base = "cpufreq/" + cpu.filename().string();
    Domain d;
    d.name = cpu.filename().string();
    const auto cur = s.number(f / "scaling_cur_freq", base + "/cur", 1, kMaxHz);
    const auto lo = s.number(f / "scaling_min_freq", base + "/min", 1, kMaxHz);
    const auto hi = s.number(f / "scaling_max_freq", base + "/max", 1, kMaxHz);
    if (cur) s.add(base + "/cur", *cur / 1000, "MHz"), d.cur_mhz = *cur / 1000;
    if (lo) s.add(base + "/min", *lo / 1000, "MHz"), d.min_mhz = *lo / 1000;
    if (hi) s.add(base + "/max", *hi / 1000, "MHz"), d.max_mhz = *hi / 1000;
    if (auto avail = s.list(f / "scaling_available_frequencies", base + "/available")) {
      s.add(base + "/available", double(avail->size()), "count");
      for (double khz : *avail) d.available_mhz.push_back(khz / 1000);
    }
    if (auto g = s.word(f / "scaling_governor", base + "/governor")) d.governor = *g;
    out.domains.push_back(std::move(d));
  }
  if (!any) s.miss("cpufreq", dir, "absent (no cpu*/cpufreq folder)");
}

void read_devfreq(Scan& s, Snapshot& out) {
  const fs::path dir = s.at("sys/class/devfreq");
  const auto devices = s.entries(dir, std::regex("[^.].*"));
  if (devices.empty()) s.miss("devfreq", dir, "absent");
  for (const fs::path& dev : devices) {
    const std::string base = "devfreq/" + dev.filename().string();
    Domain d;
    d.name = dev.filename().string();
    if (auto hz = s.number(dev / "cur_freq", base + "/cur", 1, kMaxHz))
      s.add(base + "/cur", *hz / 1e6, "MHz"), d.cur_mhz = *hz / 1e6;
    if (auto avail = s.list(dev / "available_frequencies", base + "/available")) {
      s.add(base + "/available", double(avail->size()), "count");
      for (double hz : *avail) d.available_mhz.push_back(hz / 1e6);
    }
    if (auto lo = s.number(dev / "min_freq", base + "/min", 1, kMaxHz, false))
      d.min_mhz = *lo / 1e6;
    if (auto hi = s.number(dev / "max_freq", base + "/max", 1, kMaxHz, false))
      d.max_mhz = *hi / 1e6;
    if (d.min_mhz == 0 && !d.available_mhz.empty()) d.min_mhz = d.available_mhz.front();
    if (d.max_mhz == 0 && !d.available_mhz.empty()) d.max_mhz = d.available_mhz.back();
    if (auto g = s.word(dev / "governor", base + "/governor")) d.governor = *g;
    out.domains.push_back(std::move(d));
  }
}

void read_jetson_rails(Scan& s, double& board_w) {
  // JetPack 4: ina3221x iio devices, rail_name_N + in_powerN_input (mW).
  const fs::path drv = s.at("sys/bus/i2c/drivers/ina3221x");
  bool any = false;
  for (const fs::path& chip : s.entries(drv, std::regex("[0-9]+-[0-9a-fA-F]+"))) {
    for (const fs::path& iio : s.entries(chip, std::regex("iio:device[0-9]+"))) {
      for (int n = 0; n < 8; ++n) {
        const fs::path name_file = iio / ("rail_name_" + std::to_string(n));
        std::error_code ec;
        if (!fs::exists(name_file, ec)) continue;
        const auto rail = s.word(name_file, "rail name");
        if (!rail) continue;
        any = true;
        const auto mw = s.number(iio / ("in_power" + std::to_string(n) + "_input"),
                                 "power/" + *rail, 0, kMaxMilli);
        if (!mw) continue;
        s.add("power/" + *rail, *mw / 1000, "W");
        if (rail->find("IN") != std::string::npos) board_w = *mw / 1000;  // POM_5V_IN: the board
      }
    }
  }
  // Mainline hwmon (ina3221 and others): inN_label + inN_input (mV) + currN_input (mA).
  const fs::path hw = s.at("sys/class/hwmon");
  for (const fs::path& mon : s.entries(hw, std::regex("hwmon[0-9]+"))) {
    for (int n = 0; n < 16; ++n) {
      const fs::path label = mon / ("in" + std::to_string(n) + "_label");
      std::error_code ec;
      if (!fs::exists(label, ec) || !fs::exists(mon / ("curr" + std::to_string(n) + "_input"), ec))
        continue;
      const auto rail = s.word(label, "hwmon label");
      // The INA3221's sum channel repeats the others (jtop skips it too).
      if (!rail || rail->find("sum") != std::string::npos) continue;
      any = true;
      const auto mv =
          s.number(mon / ("in" + std::to_string(n) + "_input"), "power/" + *rail, 0, kMaxMilli);
      const auto ma = s.number(mon / ("curr" + std::to_string(n) + "_input"), "power/" + *rail,
                               -kMaxMilli, kMaxMilli);
      if (!mv || !ma) continue;
      const double w = std::abs(*mv * *ma) * 1e-6;
      s.add("power/" + *rail, w, "W");
      if (rail->find("IN") != std::string::npos) board_w = w;
    }
  }
  if (!any) s.miss("power rails (INA3221)", drv, "absent (and no hwmon channel with a label)");
}

}  // namespace

LinuxTelemetry::LinuxTelemetry(fs::path root) : root_(std::move(root)), start_s_(now_s()) {}

Snapshot LinuxTelemetry::sample() {
  Snapshot out;
  const double t = now_s();
  out.time_s = t - start_s_;
  Scan s(root_, out);
  read_thermal(s, out);
  read_power_supplies(s, out);
  read_cpufreq(s, out);
  read_devfreq(s, out);
  double board_w = kUnknown;
  read_jetson_rails(s, board_w);

  // RAPL: energy counters; power is the difference between two samples.
  const fs::path pc = s.at("sys/class/powercap");
  const auto zones = s.entries(pc, std::regex("intel-rapl(:[0-9]+)+"));
  if (zones.empty()) s.miss("RAPL", pc, "absent");
  std::vector<std::pair<std::string, Counter>> energy;
  double package_w = 0;
  bool have_package = false;
  for (const fs::path& zone : zones) {
    const auto name = s.word(zone / "name", "RAPL zone name");
    if (!name) continue;
    const std::string base = "rapl/" + *name;
    const auto uj = s.number(zone / "energy_uj", base + "/energy", 0, 1e18);
    const auto range = s.number(zone / "max_energy_range_uj", base + "/energy range", 1, 1e18);
    if (!uj) continue;
    s.add(base + "/energy", *uj * 1e-6, "J");
    for (const auto& [n, prev] : energy_j_) {
      if (n != *name || t <= prev.time_s) continue;
      const double w =
          counter_delta(prev.value, *uj * 1e-6, range ? *range * 1e-6 : 0) / (t - prev.time_s);
      s.add(base + "/power", w, "W");
      if (name->starts_with("package")) package_w += w, have_package = true;
    }
    energy.push_back({*name, {*uj * 1e-6, t}});
  }
  energy_j_ = std::move(energy);

  std::string why;
  const fs::path stat = s.at("proc/stat");
  if (const auto text = s.text(stat, &why)) {
    if (const auto busy_total = parse_proc_stat(*text, &why)) {
      if (cpu_busy_total_) {
        const double busy = busy_total->first - cpu_busy_total_->first;
        const double total = busy_total->second - cpu_busy_total_->second;
        if (total > 0 && busy >= 0) {
          const double util = std::clamp(busy / total, 0.0, 1.0);
          s.add("cpu/util", util, "fraction");
          for (Domain& d : out.domains)
            if (d.name.starts_with("cpu")) d.util = util;
        } else {
          s.miss("cpu/util", stat,
                 total == 0 ? "no time counted between the two samples"
                            : "the counters went backwards");
        }
      }
      cpu_busy_total_ = busy_total;
    } else {
      s.miss("cpu/util", stat, why);
    }
  } else {
    s.miss("cpu/util", stat, why);
  }

  if (!std::isnan(board_w))
    out.power_w = board_w;
  else if (have_package)
    out.power_w = package_w;
  else if (auto p = [&]() -> std::optional<double> {
             for (const Reading& r : out.readings)
               if (r.name.starts_with("battery/") && r.name.ends_with("/power")) return r.value;
             return std::nullopt;
           }())
    out.power_w = *p;
  return out;
}

}  // namespace edgeco::power
