// Each preset's *fitted* constants reproduce the published figure their comment says they are
// fitted to, through the same cost model compile and profile use. A preset edited away from its
// source fails here.
#include <gtest/gtest.h>

#include "edgeco/compiler.h"
#include "edgeco/compress.h"
#include "edgeco/hw.h"
#include "edgeco/runtime.h"
#include "edgeco/zoo.h"

namespace edgeco {
namespace {

void expect_within(double modelled, double published, double tolerance, const std::string& what) {
  EXPECT_NEAR(modelled / published, 1.0, tolerance)
      << what << ": modelled " << modelled << ", published " << published;
}

// MobileNetV2 as torchvision builds it at 224x224, BatchNormalization folded (as deployed).
Graph mobilenet_v2() {
  Graph g = build_model("mobilenet_v2");
  fold_batch_norm(g);
  remove_dead_nodes(g);
  return g;
}

Graph quantized(const Graph& model) {
  const std::vector<TensorMap> samples = random_calibration(model, 2, 0);
  Session session(model, {.fast_kernels = true});
  const CalibrationRunner runner = [&](const TensorMap& s, const ValueCallback& observe) {
    session.run(s, observe);
  };
  QuantizeOptions options;
  options.evaluate = reference_evaluator();
  return quantize_qdq(model, samples, runner, options);
}

double latency_ms(const Graph& model, const hw::Platform& platform, Strategy strategy) {
  CompileOptions options;
  options.strategy = strategy;
  options.dvfs = false;
  return compile(model, platform, options, reference_evaluator()).latency_ms;
}

double board_watts(const hw::Platform& p, const hw::OperatingPoint& opp, bool busy) {
  const hw::Device& cpu = p.devices.at(0);
  return p.static_watts + cpu.leakage_watts(opp, p.thermal.ambient_c) +
         (busy ? cpu.dynamic_watts(opp) : 0.0);
}

TEST(PresetFit, RaspberryPi4IdleAndLoadedPowerAreThePublishedOnes) {
  // [PWR]: ~2.2 W idle (lowest operating point, nothing running), ~5.5 W with all cores loaded.
  const hw::Platform p = hw::find_platform("raspberry-pi-4");
  const hw::Device& cpu = p.devices.at(0);
  expect_within(board_watts(p, cpu.opps.front(), false), 2.2, 0.05, "idle");
  expect_within(board_watts(p, cpu.opps.back(), true), 5.5, 0.05, "all cores loaded");
}

TEST(PresetFit, JetsonNanoGpuRunsResNet18AtTheTensorRtTimes) {
  // [TRT]: ResNet-18 at 256x256 (2.38 G MACs) in 26 ms FP32 and 18 ms FP16 at 921.6 MHz; its
  // layers are dense convolutions, so the dense rate carries the network.
  for (const char* preset : {"jetson-nano", "jetson-nano-ethos-u55"}) {
    const hw::Device& gpu = hw::find_platform(preset).device("gpu");
    const double hz = gpu.opps.back().mhz * 1e6;
    expect_within(2.38e9 / (*gpu.rate(hw::NumType::fp32, hw::OpClass::dense_conv) * hz) * 1e3, 26,
                  0.03, std::string(preset) + " fp32");
    expect_within(2.38e9 / (*gpu.rate(hw::NumType::fp16, hw::OpClass::dense_conv) * hz) * 1e3, 18,
                  0.03, std::string(preset) + " fp16");
  }
}

TEST(PresetFit, EthosU55DynamicEnergyPerMacIsHorowitzs) {
  // Derived: 0.208 pJ per 8-bit MAC [HOR] x 256 MACs per cycle.
  const hw::Device& npu = hw::find_platform("jetson-nano-ethos-u55").device("npu");
  const hw::OperatingPoint& top = npu.opps.back();
  expect_within(npu.dynamic_watts(top) / (256 * top.mhz * 1e6) * 1e12, 0.208, 0.02, "pJ per MAC");
}

TEST(PresetFit, CoralRunsMobileNetV2AtThePublishedTimes) {
  // [CORAL]: MobileNetV2 in 2.5 ms on the Edge TPU of the Dev Board (every node it supports on
  // it, as its delegate places them), 150 ms on the embedded CPU.
  const hw::Platform coral = hw::find_platform("coral-dev-board");
  const Graph model = mobilenet_v2();
  // The TPU within 10%: the model reads the weights from DRAM each run, the TPU caches them.
  expect_within(latency_ms(quantized(model), coral, Strategy::greedy), 2.5, 0.1, "Edge TPU");
  expect_within(latency_ms(model, coral, Strategy::all_cpu), 150, 0.03, "embedded CPU");
}

}  // namespace
}  // namespace edgeco
