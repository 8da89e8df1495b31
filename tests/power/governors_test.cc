// Each governor against its kernel formula on utilisation traces whose answers are worked out by
// hand from the source (drivers/cpufreq/cpufreq_ondemand.c, cpufreq_conservative.c,
// kernel/sched/cpufreq_schedutil.c), on the Jetson Nano CPU's operating points.
#include <gtest/gtest.h>

#include <cmath>

#include "edgeco/power.h"

namespace edgeco::power {
namespace {

Snapshot nano_cpu(double cur_mhz, double util, double t = 0) {
  Snapshot s;
  s.time_s = t;
  Domain d;
  d.name = "cpu";
  d.available_mhz = {204, 408, 612, 816, 1020, 1224, 1326, 1479};
  d.min_mhz = 204;
  d.max_mhz = 1479;
  d.cur_mhz = cur_mhz;
  d.util = util;
  s.domains.push_back(d);
  return s;
}

double decide(Governor& g, double cur, double util, double t = 0) {
  return g.decide(nano_cpu(cur, util, t)).mhz.at(0);
}

TEST(Governors, PerformanceAndPowersaveTakeThePolicyLimits) {
  EXPECT_EQ(decide(*make_governor("performance"), 612, 0.1), 1479);
  EXPECT_EQ(decide(*make_governor("powersave"), 612, 0.9), 204);
  Snapshot capped = nano_cpu(612, 0.9);
  capped.domains[0].max_mhz = 1020;  // a thermal cap lowers the policy's max
  EXPECT_EQ(make_governor("performance")->decide(capped).mhz[0], 1020);
}

TEST(Governors, OndemandJumpsToMaxAboveUpThresholdElseScalesWithLoad) {
  auto g = make_governor("ondemand");
  EXPECT_EQ(decide(*g, 204, 0.81), 1479);  // load 81 > 80
  // load 80: 204 + 80 * (1479 - 204) / 100 = 1224 exactly
  EXPECT_EQ(decide(*g, 1479, 0.80), 1224);
  // load 50: 841.5, closest is 816 (25.5 away) not 1020
  EXPECT_EQ(decide(*g, 1479, 0.50), 816);
  // load 10: 331.5, closest of 204 / 408 is 408 (76.5 vs 127.5)
  EXPECT_EQ(decide(*g, 1479, 0.10), 408);
  EXPECT_EQ(decide(*g, 1479, 0.0), 204);
}

TEST(Governors, ConservativeStepsFivePercentOfMaxFromItsLastRequest) {
  auto g = make_governor("conservative");
  // Up from 204 in steps of 73.95: requests 277.95, 351.9, 425.85, 499.8, 573.75, 647.7, each
  // resolved to the highest frequency at or below (CPUFREQ_RELATION_H).
  const double up[] = {204, 204, 408, 408, 408, 612};
  for (double want : up) EXPECT_DOUBLE_EQ(decide(*g, 204, 0.9), want);
  // Between the thresholds nothing changes.
  EXPECT_TRUE(std::isnan(decide(*g, 612, 0.5)));
  // Down from the request 647.7: 573.75, 499.8, 425.85, 351.9 resolved to the lowest at or above.
  const double down[] = {612, 612, 612, 408};
  for (double want : down) EXPECT_DOUBLE_EQ(decide(*g, 612, 0.1), want);
}

TEST(Governors, SchedutilAsksForOnePointTwoFiveTimesTheUtilisedFrequency) {
  GovernorSettings s;
  s.rate_limit_ms = 10;
  auto g = make_governor("schedutil", s);
  // 1.25 * 1479 * 0.5 = 924.4 -> lowest at or above: 1020
  EXPECT_EQ(decide(*g, 1479, 0.5, 0.0), 1020);
  // 5 ms later: within the rate limit, no change asked
  EXPECT_TRUE(std::isnan(decide(*g, 1020, 0.9, 0.005)));
  // 1.25 * 1020 * 0.9 = 1147.5 -> 1224
  EXPECT_EQ(decide(*g, 1020, 0.9, 0.010), 1224);
  // 1.25 * 1224 * 0.1 = 153 -> below the table: 204
  EXPECT_EQ(decide(*g, 1224, 0.1, 0.020), 204);
  // 1.25 * 204 * 1.0 = 255 -> 408 (the tipping point is 80% utilisation)
  EXPECT_EQ(decide(*g, 204, 1.0, 0.030), 408);
  // exactly 80% of 816: 816 stays
  EXPECT_EQ(decide(*g, 816, 0.8, 0.040), 816);
}

TEST(Governors, StaticHoldsTheConfigurationGiven) {
  GovernorSettings s;
  s.static_mhz = {1000};
  s.static_variant = "student.int8";
  const Action a = make_governor("static", s)->decide(nano_cpu(204, 0.9));
  EXPECT_EQ(a.mhz.at(0), 1020);  // the closest operating point
  EXPECT_EQ(a.variant.value(), "student.int8");
}

TEST(Governors, AnUnknownNameListsTheKnownOnes) {
  try {
    make_governor("turbo");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("schedutil"), std::string::npos);
  }
}

}  // namespace
}  // namespace edgeco::power
