#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include "edgeco/power.h"

namespace edgeco::power {

namespace fs = std::filesystem;

namespace {

// What a signal handler must write back, kept where the handler can reach it without allocating
// or locking: open/write/close are async-signal-safe, std::ofstream is not.
struct RestoreEntry {
  std::atomic<bool> active{false};
  std::array<char, 512> path{};
  std::array<char, 128> text{};
};
std::array<RestoreEntry, 256> g_restore;
std::mutex g_restore_mutex;  // taken by register/unregister only, never in the handler

int register_restore(const fs::path& file, const std::string& text) {
  const std::lock_guard lock(g_restore_mutex);
  const std::string p = file.string();
  if (p.size() >= sizeof(RestoreEntry::path) || text.size() >= sizeof(RestoreEntry::text))
    return -1;
  for (size_t i = 0; i < g_restore.size(); ++i) {
    RestoreEntry& e = g_restore[i];
    if (e.active.load()) continue;
    std::memcpy(e.path.data(), p.c_str(), p.size() + 1);
    std::memcpy(e.text.data(), text.c_str(), text.size() + 1);
    e.active.store(true);
    return int(i);
  }
  return -1;
}

void unregister_restore(int slot) {
  if (slot < 0) return;
  const std::lock_guard lock(g_restore_mutex);
  g_restore[size_t(slot)].active.store(false);
}

// Writes the saved values back, later saves first (the handler's path; no allocation).
void write_back_all() {
  for (size_t i = g_restore.size(); i-- > 0;) {
    RestoreEntry& e = g_restore[i];
    if (!e.active.load()) continue;
    const int fd = ::open(e.path.data(), O_WRONLY | O_TRUNC);
    if (fd < 0) continue;
    const ssize_t ignored = ::write(fd, e.text.data(), std::strlen(e.text.data()));
    (void)ignored;
    ::close(fd);
  }
}

extern "C" void restore_and_reraise(int sig) {
  write_back_all();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

std::optional<std::string> read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  std::string t = s.str();
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t;
}

bool writable(const fs::path& file) {
  return ::access(file.c_str(), W_OK) == 0;
}

}  // namespace

void restore_actuators_on_signals() {
  struct sigaction sa {};
  sa.sa_handler = restore_and_reraise;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

FrequencyActuator::FrequencyActuator(Kind kind, fs::path dir) : kind_(kind), dir_(std::move(dir)) {
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) {
    unavailable_ = "no such folder " + dir_.string();
    return;
  }
  const fs::path avail =
      dir_ / (kind_ == Kind::cpufreq ? "scaling_available_frequencies" : "available_frequencies");
  if (const auto t = read_text(avail)) {
    std::string why;
    if (auto list = parse_sysfs_list(*t, &why)) available_khz_ = *list;
  }
  if (kind_ == Kind::cpufreq) {
    const auto governors = read_text(dir_ / "scaling_available_governors");
    const bool userspace =
        governors && (" " + *governors + " ").find(" userspace ") != std::string::npos;
    method_ = userspace ? "userspace" : "max_freq clamp";
    const fs::path target = dir_ / (userspace ? "scaling_setspeed" : "scaling_max_freq");
    if (!fs::exists(target, ec))
      unavailable_ = target.string() + " is absent";
    else if (!writable(target) || (userspace && !writable(dir_ / "scaling_governor")))
      unavailable_ = target.string() + " is not writable (needs root)";
  } else {
    method_ = "min/max pin";
    if (!fs::exists(dir_ / "max_freq", ec) || !fs::exists(dir_ / "min_freq", ec))
      unavailable_ = (dir_ / "max_freq").string() + " or min_freq is absent";
    else if (!writable(dir_ / "max_freq") || !writable(dir_ / "min_freq"))
      unavailable_ = (dir_ / "max_freq").string() + " is not writable (needs root)";
  }
  if (unavailable_.empty() && available_khz_.empty())
    unavailable_ = avail.string() + " is absent or malformed: no frequency table to choose from";
}

FrequencyActuator::~FrequencyActuator() {
  restore();
}

std::string FrequencyActuator::name() const {
  return (kind_ == Kind::cpufreq ? "cpufreq:" : "devfreq:") + dir_.string();
}

std::string FrequencyActuator::unavailable_reason() const {
  return unavailable_;
}

std::string FrequencyActuator::method() const {
  return method_;
}

void FrequencyActuator::write(const fs::path& file, const std::string& text) {
  // Save the file's first value before the first change to it. scaling_setspeed is not saved:
  // outside the userspace governor it reads "<unsupported>" and takes no value, and putting the
  // governor back is what restores the frequency.
  const bool saved =
      std::any_of(saved_.begin(), saved_.end(), [&](const auto& s) { return s.first == file; });
  if (!saved && file.filename() != "scaling_setspeed") {
    const auto original = read_text(file);
    if (!original) throw Error(ErrorKind::io, "cannot read", file.string());
    saved_.emplace_back(file, *original);
    slots_.push_back(register_restore(file, *original));
  }
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) throw Error(ErrorKind::io, "cannot write '" + text + "'", file.string());
}

double FrequencyActuator::set_mhz(double mhz) {
  if (!unavailable_.empty()) throw Error(ErrorKind::unsupported, unavailable_, name());
  const double unit_per_mhz = kind_ == Kind::cpufreq ? 1e3 : 1e6;
  const double want = mhz * unit_per_mhz;
  const double chosen = *std::min_element(
      available_khz_.begin(), available_khz_.end(),
      [&](double a, double b) { return std::abs(a - want) < std::abs(b - want); });
  const std::string value = std::to_string(int64_t(chosen));
  if (kind_ == Kind::cpufreq) {
    if (method_ == "userspace") {
      write(dir_ / "scaling_governor", "userspace");
      write(dir_ / "scaling_setspeed", value);
    } else {
      write(dir_ / "scaling_max_freq", value);
    }
  } else {
    // Pin: raise max before min when going up, lower min before max when going down.
    const auto cur_max = read_text(dir_ / "max_freq");
    const bool up = cur_max && std::atof(cur_max->c_str()) < chosen;
    if (up) write(dir_ / "max_freq", value);
    write(dir_ / "min_freq", value);
    write(dir_ / "max_freq", value);
  }
  return chosen / unit_per_mhz;
}

void FrequencyActuator::restore() {
  // Later saves first; devfreq's max is written again last so either order of limits holds.
  for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
    std::ofstream out(it->first, std::ios::binary | std::ios::trunc);
    out << it->second;
  }
  for (const auto& [file, text] : saved_)
    if (file.filename() == "max_freq") std::ofstream(file, std::ios::trunc) << text;
  for (int slot : slots_) unregister_restore(slot);
  saved_.clear();
  slots_.clear();
}

std::vector<std::unique_ptr<FrequencyActuator>> linux_frequency_actuators(const fs::path& root) {
  std::vector<std::unique_ptr<FrequencyActuator>> out;
  std::error_code ec;
  std::vector<fs::path> cpus, devs;
  for (fs::directory_iterator it(root / "sys/devices/system/cpu", ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (n.size() > 3 && n.starts_with("cpu") &&
        std::all_of(n.begin() + 3, n.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
        fs::is_directory(it->path() / "cpufreq"))
      cpus.push_back(it->path() / "cpufreq");
  }
  for (fs::directory_iterator it(root / "sys/class/devfreq", ec), end; !ec && it != end;
       it.increment(ec))
    devs.push_back(it->path());
  std::sort(cpus.begin(), cpus.end());
  std::sort(devs.begin(), devs.end());
  out.reserve(cpus.size() + devs.size());
  for (auto& c : cpus)
    out.push_back(std::make_unique<FrequencyActuator>(FrequencyActuator::Kind::cpufreq, c));
  for (auto& d : devs)
    out.push_back(std::make_unique<FrequencyActuator>(FrequencyActuator::Kind::devfreq, d));
  return out;
}

BoardControl::BoardControl(fs::path root) : telemetry_(root), root_(std::move(root)) {
  for (auto& a : linux_frequency_actuators(root_)) {
    // cpufreq: …/cpuN/cpufreq -> "cpuN"; devfreq: the device folder's name.
    const fs::path& dir = a->dir();
    const std::string domain = dir.filename() == "cpufreq" ? dir.parent_path().filename().string()
                                                           : dir.filename().string();
    actuators_.emplace_back(domain, std::move(a));
  }
}

std::pair<Snapshot, Action> BoardControl::step(Governor& governor) {
  Snapshot now = telemetry_.sample();
  Action action = governor.decide(now);
  for (size_t i = 0; i < now.domains.size() && i < action.mhz.size(); ++i) {
    if (std::isnan(action.mhz[i])) continue;
    for (auto& [domain, actuator] : actuators_)
      if (domain == now.domains[i].name && actuator->unavailable_reason().empty())
        action.mhz[i] = actuator->set_mhz(action.mhz[i]);
  }
  return {std::move(now), std::move(action)};
}

std::vector<std::pair<std::string, std::string>> BoardControl::unavailable() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [domain, actuator] : actuators_)
    if (!actuator->unavailable_reason().empty())
      out.emplace_back(domain, actuator->unavailable_reason());
  return out;
}

VariantSwitch::VariantSwitch(std::vector<Variant> variants) : variants_(std::move(variants)) {
  for (const Variant& v : variants_)
    if (!v.session)
      throw Error(ErrorKind::invalid_argument, "a variant without a prepared session", v.name);
}

std::string VariantSwitch::unavailable_reason() const {
  return variants_.size() < 2 ? "fewer than two variants to switch between" : "";
}

void VariantSwitch::restore() {
  current_ = 0;
}

double VariantSwitch::select(std::string_view name) {
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < variants_.size(); ++i) {
    if (variants_[i].name != name) continue;
    current_ = i;
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
        .count();
  }
  std::string known;
  for (const Variant& v : variants_) known += (known.empty() ? "" : ", ") + v.name;
  throw Error(ErrorKind::invalid_argument,
              "no variant '" + std::string(name) + "' (known: " + known + ")");
}

const std::string& VariantSwitch::current() const {
  if (variants_.empty()) throw Error(ErrorKind::invalid_argument, "no variants");
  return variants_[current_].name;
}

TensorMap VariantSwitch::run(const TensorMap& inputs) {
  if (variants_.empty()) throw Error(ErrorKind::invalid_argument, "no variants");
  return variants_[current_].session->run(inputs);
}

}  // namespace edgeco::power
