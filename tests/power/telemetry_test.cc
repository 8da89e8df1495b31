#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "edgeco/power.h"
#include "fake_tree.h"

namespace edgeco::power {
namespace {

using testing::FakeTree;

double value(const Snapshot& s, const std::string& name, const std::string& unit) {
  for (const Reading& r : s.readings)
    if (r.name == name) {
      EXPECT_EQ(r.unit, unit) << name;
      return r.value;
    }
  ADD_FAILURE() << "no reading " << name;
  return -1;
}

bool missing(const Snapshot& s, const std::string& what_prefix, const std::string& path_part,
             const std::string& why_part) {
  for (const Missing& m : s.missing)
    if (m.what.starts_with(what_prefix) && m.path.find(path_part) != std::string::npos &&
        m.why.find(why_part) != std::string::npos)
      return true;
  return false;
}

TEST(LinuxTelemetry, ReadsAJetsonNanoTreeInTheKernelsUnits) {
  FakeTree t;
  testing::lay_out_jetson_nano(t);
  LinuxTelemetry source(t.root());
  Snapshot first = source.sample();
  EXPECT_DOUBLE_EQ(value(first, "thermal/CPU-therm", "C"), 41.0);
  EXPECT_DOUBLE_EQ(value(first, "thermal/PLL-therm", "C"), 39.25);
  EXPECT_DOUBLE_EQ(value(first, "thermal/PMIC-Die", "C"), 100.0);
  EXPECT_DOUBLE_EQ(first.temperature_c, 100.0);  // the hottest zone
  EXPECT_DOUBLE_EQ(value(first, "cpufreq/cpu2/cur", "MHz"), 1479.0);
  EXPECT_DOUBLE_EQ(value(first, "cpufreq/cpu2/min", "MHz"), 102.0);
  EXPECT_DOUBLE_EQ(value(first, "cpufreq/cpu3/available", "count"), 15);
  EXPECT_DOUBLE_EQ(value(first, "devfreq/57000000.gpu/cur", "MHz"), 921.6);
  EXPECT_DOUBLE_EQ(value(first, "power/POM_5V_IN", "W"), 3.562);
  EXPECT_DOUBLE_EQ(value(first, "power/POM_5V_GPU", "W"), 0.079);
  EXPECT_DOUBLE_EQ(value(first, "power/POM_5V_CPU", "W"), 0.553);
  EXPECT_DOUBLE_EQ(first.power_w, 3.562);  // the board's input rail
  ASSERT_EQ(first.domains.size(), 5u);
  EXPECT_EQ(first.domains[4].name, "57000000.gpu");
  EXPECT_EQ(first.domains[4].governor, "nvhost_podgov");
  EXPECT_EQ(first.domains[4].available_mhz.size(), 12u);
  EXPECT_DOUBLE_EQ(first.domains[0].available_mhz.front(), 102.0);
  // Utilisation needs a second sample: busy 1510 -> 1810 jiffies of 9610 -> 10210.
  EXPECT_FALSE(first.reading("cpu/util"));
  t.write("proc/stat", "cpu  1200 0 600 8200 100 0 10 0 0 0\n");
  const Snapshot second = source.sample();
  EXPECT_NEAR(value(second, "cpu/util", "fraction"), 300.0 / 500.0, 1e-12);
  EXPECT_NEAR(second.domains[0].util, 0.6, 1e-12);
  EXPECT_TRUE(missing(second, "batteries", "power_supply", "absent"));
  EXPECT_TRUE(missing(second, "RAPL", "powercap", "absent"));
}

TEST(LinuxTelemetry, ReadsALaptopsBatteryAndRaplAcrossTheCountersWrap) {
  FakeTree t;
  testing::lay_out_laptop(t);
  LinuxTelemetry source(t.root());
  const Snapshot first = source.sample();
  EXPECT_DOUBLE_EQ(value(first, "thermal/x86_pkg_temp", "C"), 52.0);
  EXPECT_DOUBLE_EQ(value(first, "battery/BAT0/capacity", "%"), 76);
  EXPECT_DOUBLE_EQ(value(first, "battery/BAT0/energy", "Wh"), 38.12);
  EXPECT_DOUBLE_EQ(value(first, "battery/BAT0/power", "W"), 9.87);
  EXPECT_DOUBLE_EQ(first.battery_pct, 76);
  EXPECT_DOUBLE_EQ(value(first, "rapl/package-0/energy", "J"), 262142.32885);
  EXPECT_FALSE(first.reading("rapl/package-0/power"));  // one sample: no rate yet
  // intel_pstate lists no frequency table: said, not failed.
  EXPECT_TRUE(missing(first, "cpufreq/cpu0/available", "scaling_available_frequencies", "absent"));
  // The package counter wraps: 1 J before the range's end, then 0.5 J after it.
  t.write("sys/class/powercap/intel-rapl:0/energy_uj", "500000\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const Snapshot second = source.sample();
  const double watts = value(second, "rapl/package-0/power", "W");
  EXPECT_GT(watts, 1.5 / 5.0);   // 1.5 J over at most 5 s
  EXPECT_LT(watts, 1.5 / 0.05);  // and at least the 50 ms slept
  EXPECT_DOUBLE_EQ(second.power_w, watts);
}

TEST(LinuxTelemetry, DerivesBatteryPowerFromVoltageAndCurrentWhenPowerNowIsAbsent) {
  FakeTree t;
  t.write("sys/class/power_supply/battery/type", "Battery\n");
  t.write("sys/class/power_supply/battery/capacity", "55\n");
  t.write("sys/class/power_supply/battery/voltage_now", "3800000\n");
  t.write("sys/class/power_supply/battery/current_now", "-450000\n");  // discharging, signed
  const Snapshot s = LinuxTelemetry(t.root()).sample();
  EXPECT_NEAR(value(s, "battery/battery/power", "W"), 3.8 * 0.45, 1e-12);
}

TEST(LinuxTelemetry, ReadsARaspberryPi4Tree) {
  FakeTree t;
  testing::lay_out_raspberry_pi_4(t);
  const Snapshot s = LinuxTelemetry(t.root()).sample();
  EXPECT_DOUBLE_EQ(value(s, "thermal/cpu-thermal", "C"), 48.686);
  EXPECT_DOUBLE_EQ(value(s, "cpufreq/cpu0/max", "MHz"), 1500);
  EXPECT_DOUBLE_EQ(value(s, "cpufreq/cpu1/available", "count"), 10);
  EXPECT_EQ(s.domains.size(), 4u);
  EXPECT_EQ(s.domains[0].governor, "ondemand");
  EXPECT_TRUE(missing(s, "devfreq", "devfreq", "absent"));
  EXPECT_TRUE(missing(s, "power rails", "ina3221x", "absent"));
}

TEST(LinuxTelemetry, ReportsAMalformedFileByNameInsteadOfFailing) {
  FakeTree t;
  testing::lay_out_jetson_nano(t);
  t.write("sys/class/thermal/thermal_zone1/temp", "hot\n");
  t.write("sys/class/thermal/thermal_zone2/temp", "");
  t.write("sys/class/thermal/thermal_zone3/temp", "99999999999999999999999\n");
  t.write("sys/devices/system/cpu/cpu1/cpufreq/scaling_cur_freq", "-5\n");
  t.write("sys/devices/system/cpu/cpu2/cpufreq/scaling_available_frequencies", "102000 x\n");
  t.write("sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0/in_power1_input", "\x01\x02\xff");
  t.write("proc/stat", "intr 5\n");
  const Snapshot s = LinuxTelemetry(t.root()).sample();
  EXPECT_TRUE(missing(s, "thermal/CPU-therm", "thermal_zone1/temp", "bad value 'hot'"));
  EXPECT_TRUE(missing(s, "thermal/GPU-therm", "thermal_zone2/temp", "empty"));
  EXPECT_TRUE(missing(s, "thermal/PLL-therm", "thermal_zone3/temp", "bad value"));
  EXPECT_TRUE(missing(s, "cpufreq/cpu1/cur", "cpu1/cpufreq/scaling_cur_freq", "out of range"));
  EXPECT_TRUE(
      missing(s, "cpufreq/cpu2/available", "scaling_available_frequencies", "bad value 'x'"));
  EXPECT_TRUE(missing(s, "power/POM_5V_GPU", "in_power1_input", "bad value"));
  EXPECT_TRUE(missing(s, "cpu/util", "proc/stat", "no aggregate 'cpu' line"));
  EXPECT_FALSE(s.reading("thermal/CPU-therm"));
  EXPECT_DOUBLE_EQ(value(s, "thermal/AO-therm", "C"), 36.5);  // the good ones still read
}

TEST(LinuxTelemetry, AnEmptyRootSaysWhatIsMissing) {
  FakeTree t;
  const Snapshot s = LinuxTelemetry(t.root()).sample();
  EXPECT_TRUE(s.readings.empty());
  for (const char* what : {"thermal zones", "batteries", "cpufreq", "devfreq", "RAPL", "cpu/util"})
    EXPECT_TRUE(missing(s, what, "", "absent")) << what;
}

TEST(SysfsParsers, AcceptWhatTheKernelWritesAndRefuseTheRest) {
  std::string why;
  EXPECT_EQ(parse_sysfs_number("47500\n", 0, 1e6, &why), 47500);
  EXPECT_EQ(parse_sysfs_number("-2000\n", -1e6, 1e6, &why), -2000);
  EXPECT_FALSE(parse_sysfs_number("1e3", 0, 1e6, &why));
  EXPECT_FALSE(parse_sysfs_number("12 13", 0, 1e6, &why));
  EXPECT_FALSE(parse_sysfs_number("5000000", 0, 1e6, &why));
  EXPECT_NE(why.find("out of range"), std::string::npos);
  const auto list = parse_sysfs_list("408000 204000 204000\n", &why);
  ASSERT_TRUE(list);
  EXPECT_EQ(*list, (std::vector<double>{204000, 408000}));
  EXPECT_FALSE(parse_sysfs_list("0 5", &why));
  const auto stat = parse_proc_stat("cpu  10 2 3 80 5 1 1 0 7 0\n", &why);
  ASSERT_TRUE(stat);
  EXPECT_EQ(stat->first, 17);  // user nice system irq softirq steal (guest is inside user)
  EXPECT_EQ(stat->second, 102);
  EXPECT_EQ(counter_delta(100, 250, 1000), 150);
  EXPECT_EQ(counter_delta(900, 50, 1000), 150);  // one wrap
}

}  // namespace
}  // namespace edgeco::power
