// Splitting: head + tail equals the whole model at every cut, the priced choice is the brute-force
// minimum, a narrowed wire stays close, and the protocol's decoders refuse what they cannot hold.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "edgeco/offload.h"
#include "edgeco/onnx.h"
#include "edgeco/zoo.h"

namespace edgeco::offload {
namespace {

TensorMap random_input(const Graph& g, uint32_t seed) {
  const Value& in = g.value(g.inputs.at(0));
  Dims dims = in.type->dims;
  for (int64_t& d : dims)
    if (d < 0) d = 1;
  Tensor t(DType::f32, dims);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  for (float& v : t.data<float>()) v = u(rng);
  TensorMap feed;
  feed.emplace(g.inputs[0], std::move(t));
  return feed;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.dims(), b.dims());
  double m = 0;
  const auto x = a.data<float>(), y = b.data<float>();
  for (size_t i = 0; i < x.size() && i < y.size(); ++i)
    m = std::max(m, double(std::abs(x[i] - y[i])));
  return m;
}

// Runs the head, then the tail on what crosses (graph inputs crossing as they are).
TensorMap run_split(const SplitModels& parts, const TensorMap& feed) {
  Session head(parts.head), tail(parts.tail);
  TensorMap sent = head.run(feed);
  TensorMap tail_feed;
  for (const std::string& in : parts.tail.inputs)
    tail_feed.emplace(in, sent.count(in) != 0 ? sent.at(in) : feed.at(in));
  TensorMap out = tail.run(tail_feed);
  for (const auto& [name, t] : sent) out.emplace(name, t);
  return out;
}

void expect_every_cut_composes(const Graph& model, double tolerance) {
  const TensorMap feed = random_input(model, 7);
  Session whole(model);
  const TensorMap expected = whole.run(feed);
  const std::vector<Cut> cuts = candidate_cuts(model);
  ASSERT_GE(cuts.size(), 3u);
  EXPECT_TRUE(cuts.front().all_remote());
  EXPECT_TRUE(cuts.back().all_local());
  size_t multi_tensor_cuts = 0;
  for (size_t k = 1; k + 1 < cuts.size(); ++k) {
    SCOPED_TRACE("cut " + std::to_string(k) + " after " + cuts[k].after);
    const SplitModels parts = split(model, cuts[k]);
    EXPECT_EQ(parts.head.nodes.size() + parts.tail.nodes.size(), model.nodes.size());
    if (cuts[k].tensors.size() > 1) ++multi_tensor_cuts;
    const TensorMap got = run_split(parts, feed);
    for (const std::string& out : model.outputs)
      EXPECT_LE(max_abs_diff(got.at(out), expected.at(out)), tolerance);
  }
  // The models have residual connections: some cuts must carry both branches.
  EXPECT_GT(multi_tensor_cuts, 0u);
}

TEST(Split, EveryCutOfTheShippedStudentComposesToTheWholeModel) {
  expect_every_cut_composes(load_onnx(EDGECO_SOURCE_DIR "/models/fmnist/student.onnx"), 1e-5);
}

TEST(Split, EveryCutOfMobileNetV2ComposesToTheWholeModel) {
  ZooOptions o;
  o.resolution = 96;
  o.classes = 10;
  o.seed = 3;
  expect_every_cut_composes(build_model("mobilenet_v2", o), 1e-5);
}

TEST(Split, CutAtTensorsTakesEveryAncestorAndRefusesAnIncompleteSet) {
  const Graph g = load_onnx(EDGECO_SOURCE_DIR "/models/fmnist/student.onnx");
  // Inside the first residual block: Add17 reads bn16's output and the block's input (bn8's).
  const Node* add = nullptr;
  for (const Node& n : g.nodes)
    if (n.name == "Add17") add = &n;
  ASSERT_NE(add, nullptr);
  const std::vector<std::string> both = add->inputs;
  const Cut c = cut_at(g, both);
  EXPECT_EQ(std::set<std::string>(c.tensors.begin(), c.tensors.end()),
            std::set<std::string>(both.begin(), both.end()));
  EXPECT_EQ(c.after, "bn16");
  // One branch alone is not a cut: the other would have to cross as well.
  std::string branch;
  for (const Node& n : g.nodes)
    if (n.name == "bn16") branch = n.outputs.at(0);
  const std::vector<std::string> one{branch};
  EXPECT_THROW(cut_at(g, one), Error);
  EXPECT_THROW(cut_after(g, "no-such-node"), Error);
}

TEST(Split, BestCutIsTheMinimumOverAllCandidates) {
  const Graph g = load_onnx(EDGECO_SOURCE_DIR "/models/fmnist/student.onnx");
  SplitPricing pricing =
      price_cuts(g, hw::find_platform("jetson-nano-ethos-u55"), hw::find_platform("host"));
  for (const Link link : {Link{1, 50}, Link{20, 5}, Link{1000, 0.2}, Link{10000, 0.05}}) {
    price_for_link(pricing, link);
    for (Objective o : {Objective::latency, Objective::energy}) {
      const size_t best = best_cut(pricing, o);
      for (const CutPrice& c : pricing.candidates)
        EXPECT_LE(objective_value(o, pricing.candidates[best].latency_ms,
                                  pricing.candidates[best].device_energy_mj),
                  objective_value(o, c.latency_ms, c.device_energy_mj) + 1e-12);
    }
  }
  // The all-local candidate pays no link; the others pay the RTT at least.
  price_for_link(pricing, Link{10, 30});
  EXPECT_EQ(pricing.candidates.back().transfer_bytes, 0);
  for (size_t k = 0; k + 1 < pricing.candidates.size(); ++k)
    EXPECT_GE(pricing.candidates[k].latency_ms, 30.0);
}

TEST(Split, ChoiceMovesTowardLocalAsBandwidthDrops) {
  // camera96's fp32 network on the Coral's CPU is slow enough for a fast link to pay (the student
  // on a Pi 4 stays local at any rate, which would make this test unable to fail).
  const Graph g = load_onnx(EDGECO_SOURCE_DIR "/models/fmnist/camera96.onnx");
  SplitPricing pricing =
      price_cuts(g, hw::find_platform("coral-dev-board"), hw::find_platform("host"));
  std::optional<size_t> first;
  size_t previous = 0;
  for (double mbps : {100000.0, 1000.0, 100.0, 10.0, 1.0, 0.1}) {
    price_for_link(pricing, Link{mbps, 0.1});
    const size_t k = best_cut(pricing, Objective::latency);
    EXPECT_GE(k, previous) << mbps << " Mbit/s";
    previous = k;
    if (!first) first = k;
  }
  EXPECT_FALSE(pricing.candidates[*first].cut.all_local());
  EXPECT_TRUE(pricing.candidates[previous].cut.all_local());
}

TEST(Split, NarrowWireStaysCloseAndHalvesOrQuartersTheBytes) {
  const Graph g = load_onnx(EDGECO_SOURCE_DIR "/models/fmnist/student.onnx");
  const Cut cut = cut_after(g, "Clip6");
  const TensorMap feed = random_input(g, 11);
  Session whole(g);
  const Tensor expected = whole.run(feed).at("logits");
  const SplitModels parts = split(g, cut);
  const std::vector<TensorMap> samples{random_input(g, 1), random_input(g, 2), feed};
  for (Wire w : {Wire::f16, Wire::int8}) {
    SCOPED_TRACE(std::string(to_string(w)));
    const SplitModels narrow = narrow_cut(parts, w, int8_scales(parts.head, samples));
    Session head(narrow.head);
    const TensorMap sent = head.run(feed);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent.begin()->second.dtype(), w == Wire::f16 ? DType::f16 : DType::i8);
    const Tensor got = run_split(narrow, feed).at("logits");
    const double scale = [&] {
      double m = 0;
      for (float v : expected.data<float>()) m = std::max(m, double(std::abs(v)));
      return m;
    }();
    EXPECT_LE(max_abs_diff(got, expected) / scale, w == Wire::f16 ? 1e-2 : 0.1);
    EXPECT_GT(max_abs_diff(got, expected), 0.0);  // it did go through the narrow type
    // Joined back, the model is the narrowed one.
    Session joined(join(narrow, g));
    EXPECT_LE(max_abs_diff(joined.run(feed).at("logits"), got), 1e-6);
  }
}

TEST(Protocol, RestRequestsAreDecodedAndBadOnesRefusedWithWhere) {
  const InferRequest r = parse_rest_request(
      R"({"id":"7","inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2],[3,4.5]]}],
          "outputs":[{"name":"y"}]})",
      1000);
  EXPECT_EQ(r.id, "7");
  ASSERT_EQ(r.inputs.count("x"), 1u);
  EXPECT_EQ(r.inputs.at("x").dims(), (Dims{2, 2}));
  EXPECT_FLOAT_EQ(r.inputs.at("x").data<float>()[3], 4.5f);
  EXPECT_EQ(r.outputs, std::vector<std::string>{"y"});
  const auto refused = [](std::string_view body, std::string_view says) {
    try {
      parse_rest_request(body, 1000);
      ADD_FAILURE() << "accepted " << body;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  refused("{", "not JSON");
  refused("[]", "not a JSON object");
  refused(R"({"inputs":[]})", "non-empty");
  refused(R"({"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[1,2]}]})",
          "has 2 values");
  refused(R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1,2]}]})", "more values");
  refused(R"({"inputs":[{"name":"x","shape":[100000],"datatype":"FP32","data":[]}]})",
          "more than 1000 elements");
  refused(R"({"inputs":[{"name":"x","shape":[-1],"datatype":"FP32","data":[]}]})", "negative");
  refused(R"({"inputs":[{"name":"x","shape":[1],"datatype":"INT8","data":[300]}]})",
          "out of range");
  refused(R"({"inputs":[{"name":"x","shape":[1],"datatype":"BYTES","data":["a"]}]})",
          "unknown datatype");
  refused(R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":["a"]}]})",
          "not a number");
  std::string deep(10000, '[');
  refused(R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":)" + deep + "}]}", "JSON");
  refused(
      R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}]})",
      "nested deeper");
}

TEST(Protocol, RestResponsesCarryEachTypeAsItself) {
  TensorMap outputs;
  outputs.emplace("big",
                  Tensor::from_values<uint64_t>({2}, std::vector<uint64_t>{(1ULL << 53) + 1, 7}));
  outputs.emplace("small", Tensor::from_values<int16_t>({1}, std::vector<int16_t>{-300}));
  outputs.emplace("half",
                  Tensor::from_values<float>({1}, std::vector<float>{0.5f}).cast(DType::f16));
  const std::string body = rest_response("m", "id1", outputs);
  // Integers of every width travel exactly (not through float); f16 as FP32.
  EXPECT_NE(body.find("\"datatype\":\"UINT64\",\"name\":\"big\",\"shape\":[2]"), std::string::npos)
      << body;
  EXPECT_NE(body.find("[9007199254740993,7]"), std::string::npos) << body;
  EXPECT_NE(body.find("[-300]"), std::string::npos) << body;
  EXPECT_NE(body.find("\"datatype\":\"FP32\",\"name\":\"half\""), std::string::npos) << body;
  EXPECT_NE(body.find("[0.5]"), std::string::npos) << body;
}

TEST(Protocol, RawTensorsMustMatchTheirShape) {
  const float v[2] = {1.5f, -2};
  const std::string raw(reinterpret_cast<const char*>(v), sizeof v);
  const Tensor t = tensor_from_raw(DType::f32, {2}, raw, 100);
  EXPECT_FLOAT_EQ(t.data<float>()[1], -2.0f);
  EXPECT_THROW(tensor_from_raw(DType::f32, {3}, raw, 100), Error);
  EXPECT_THROW(tensor_from_raw(DType::f32, {int64_t(1) << 40, int64_t(1) << 40}, raw, 100), Error);
}

}  // namespace
}  // namespace edgeco::offload
