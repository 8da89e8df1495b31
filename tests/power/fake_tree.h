// Fake sysfs trees laid out as real boards expose them (file names, units and formats as the
// kernel's ABI documents and as L4T, a laptop and Raspberry Pi OS show them), for the telemetry
// and actuator tests.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace edgeco::testing {

class FakeTree {
 public:
  FakeTree() {
    std::string pattern = (std::filesystem::temp_directory_path() / "edgeco-sysfs-XXXXXX").string();
    root_ = ::mkdtemp(pattern.data());
  }
  ~FakeTree() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  FakeTree(const FakeTree&) = delete;
  FakeTree& operator=(const FakeTree&) = delete;

  const std::filesystem::path& root() const { return root_; }
  void write(const std::string& rel, const std::string& text) const {
    const std::filesystem::path p = root_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
  }
  std::string read(const std::string& rel) const {
    std::ifstream in(root_ / rel, std::ios::binary);
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }

 private:
  std::filesystem::path root_;
};

// The committed trees (tests/power/trees/<board>, also what `edgeco telemetry --root` reads in
// tests/power/telemetry_cli_test.sh), copied so a test may change them:
//  jetson-nano: L4T 32 (JetPack 4): six thermal zones, four A57 cores under schedutil, the GPU as
//    devfreq 57000000.gpu, the INA3221 rails on i2c bus 6 as iio:device0;
//  laptop: x86 with acpitz and x86_pkg_temp zones, intel_pstate (no frequency table), a battery
//    with power_now, AC offline, RAPL package and core zones;
//  raspberry-pi-4: Raspberry Pi OS: one thermal zone, cpufreq-dt with its table under ondemand,
//    the rpi_volt hwmon (no power channels), no battery, no devfreq.
inline void lay_out(const FakeTree& t, const std::string& board) {
  std::filesystem::copy(
      std::filesystem::path(EDGECO_SOURCE_DIR) / "tests/power/trees" / board, t.root(),
      std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
}
inline void lay_out_jetson_nano(const FakeTree& t) {
  lay_out(t, "jetson-nano");
}
inline void lay_out_laptop(const FakeTree& t) {
  lay_out(t, "laptop");
}
inline void lay_out_raspberry_pi_4(const FakeTree& t) {
  lay_out(t, "raspberry-pi-4");
}

}  // namespace edgeco::testing
