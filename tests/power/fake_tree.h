// Fake sysfs trees laid out as real boards expose them (file names, units and formats as the
// kernel's ABI documents and as read from L4T, a laptop and Raspberry Pi OS), for the telemetry
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

// Jetson Nano on L4T 32 (JetPack 4): six thermal zones, four A57 cores under schedutil, the GPU
// as devfreq 57000000.gpu, and the INA3221 rails on i2c bus 6 as iio:device0.
inline void lay_out_jetson_nano(const FakeTree& t) {
  const char* zones[][2] = {{"AO-therm", "36500"},  {"CPU-therm", "41000"},
                            {"GPU-therm", "38500"}, {"PLL-therm", "39250"},
                            {"PMIC-Die", "100000"}, {"thermal-fan-est", "39700"}};
  for (int i = 0; i < 6; ++i) {
    const std::string z = "sys/class/thermal/thermal_zone" + std::to_string(i) + "/";
    t.write(z + "type", std::string(zones[i][0]) + "\n");
    t.write(z + "temp", std::string(zones[i][1]) + "\n");
  }
  for (int c = 0; c < 4; ++c) {
    const std::string f = "sys/devices/system/cpu/cpu" + std::to_string(c) + "/cpufreq/";
    t.write(f + "scaling_cur_freq", "1479000\n");
    t.write(f + "scaling_min_freq", "102000\n");
    t.write(f + "scaling_max_freq", "1479000\n");
    t.write(f + "scaling_available_frequencies",
            "102000 204000 307200 403200 518400 614400 710400 825600 921600 1036800 1132800 "
            "1224000 1326000 1428000 1479000 \n");
    t.write(f + "scaling_governor", "schedutil\n");
    t.write(f + "scaling_available_governors",
            "interactive conservative ondemand userspace powersave performance schedutil \n");
    t.write(f + "scaling_setspeed", "<unsupported>\n");
  }
  const std::string g = "sys/class/devfreq/57000000.gpu/";
  t.write(g + "cur_freq", "921600000\n");
  t.write(g + "min_freq", "76800000\n");
  t.write(g + "max_freq", "921600000\n");
  t.write(g + "available_frequencies",
          "76800000 153600000 230400000 307200000 384000000 460800000 537600000 614400000 "
          "691200000 768000000 844800000 921600000\n");
  t.write(g + "governor", "nvhost_podgov\n");
  const std::string r = "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0/";
  t.write(r + "rail_name_0", "POM_5V_IN\n");
  t.write(r + "in_power0_input", "3562\n");
  t.write(r + "rail_name_1", "POM_5V_GPU\n");
  t.write(r + "in_power1_input", "79\n");
  t.write(r + "rail_name_2", "POM_5V_CPU\n");
  t.write(r + "in_power2_input", "553\n");
  t.write("proc/stat", "cpu  1000 0 500 8000 100 0 10 0 0 0\ncpu0 250 0 125 2000 25 0 3 0 0 0\n");
}

// An x86 laptop: package and ACPI thermal zones, intel_pstate (no frequency table), a battery
// with power_now, AC offline, RAPL package and core zones.
inline void lay_out_laptop(const FakeTree& t) {
  t.write("sys/class/thermal/thermal_zone0/type", "acpitz\n");
  t.write("sys/class/thermal/thermal_zone0/temp", "45000\n");
  t.write("sys/class/thermal/thermal_zone1/type", "x86_pkg_temp\n");
  t.write("sys/class/thermal/thermal_zone1/temp", "52000\n");
  t.write("sys/class/power_supply/AC/type", "Mains\n");
  t.write("sys/class/power_supply/AC/online", "0\n");
  const std::string b = "sys/class/power_supply/BAT0/";
  t.write(b + "type", "Battery\n");
  t.write(b + "status", "Discharging\n");
  t.write(b + "capacity", "76\n");
  t.write(b + "energy_now", "38120000\n");
  t.write(b + "power_now", "9870000\n");
  t.write(b + "voltage_now", "11850000\n");
  for (int c = 0; c < 2; ++c) {
    const std::string f = "sys/devices/system/cpu/cpu" + std::to_string(c) + "/cpufreq/";
    t.write(f + "scaling_cur_freq", "2400000\n");
    t.write(f + "scaling_min_freq", "400000\n");
    t.write(f + "scaling_max_freq", "4700000\n");
    t.write(f + "scaling_governor", "powersave\n");
    t.write(f + "scaling_available_governors", "performance powersave\n");
  }
  t.write("sys/class/powercap/intel-rapl:0/name", "package-0\n");
  t.write("sys/class/powercap/intel-rapl:0/energy_uj", "262142328850\n");
  t.write("sys/class/powercap/intel-rapl:0/max_energy_range_uj", "262143328850\n");
  t.write("sys/class/powercap/intel-rapl:0:0/name", "core\n");
  t.write("sys/class/powercap/intel-rapl:0:0/energy_uj", "1000000\n");
  t.write("sys/class/powercap/intel-rapl:0:0/max_energy_range_uj", "262143328850\n");
  t.write("proc/stat", "cpu  100 0 100 800 0 0 0 0 0 0\n");
}

// A Raspberry Pi 4 on Raspberry Pi OS: one thermal zone, cpufreq-dt with its table under
// ondemand, the rpi_volt hwmon (no power channels), no battery, no devfreq.
inline void lay_out_raspberry_pi_4(const FakeTree& t) {
  t.write("sys/class/thermal/thermal_zone0/type", "cpu-thermal\n");
  t.write("sys/class/thermal/thermal_zone0/temp", "48686\n");
  for (int c = 0; c < 4; ++c) {
    const std::string f = "sys/devices/system/cpu/cpu" + std::to_string(c) + "/cpufreq/";
    t.write(f + "scaling_cur_freq", "600000\n");
    t.write(f + "scaling_min_freq", "600000\n");
    t.write(f + "scaling_max_freq", "1500000\n");
    t.write(f + "scaling_available_frequencies",
            "600000 700000 800000 900000 1000000 1100000 1200000 1300000 1400000 1500000 \n");
    t.write(f + "scaling_governor", "ondemand\n");
    t.write(f + "scaling_available_governors",
            "conservative ondemand userspace powersave performance schedutil \n");
    t.write(f + "scaling_setspeed", "<unsupported>\n");
  }
  t.write("sys/class/hwmon/hwmon0/name", "cpu_thermal\n");
  t.write("sys/class/hwmon/hwmon0/temp1_input", "48686\n");
  t.write("sys/class/hwmon/hwmon1/name", "rpi_volt\n");
  t.write("sys/class/hwmon/hwmon1/in0_lcrit_alarm", "0\n");
  t.write("proc/stat", "cpu  500 10 200 3000 50 0 5 0 0 0\n");
}

}  // namespace edgeco::testing
