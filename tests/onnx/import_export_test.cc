// ONNX import/export. These tests build protobuf messages directly (only tests and src/onnx may).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "../test_util.h"
#include "edgeco/onnx.h"

namespace edgeco {
namespace {

using testing::capture_error;

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("edgeco_onnx_test_" + name + "_" + std::to_string(getpid()));
  fs::create_directories(dir);
  return dir;
}

void add_input(::onnx::GraphProto& g, const std::string& name,
               std::vector<std::variant<int64_t, std::string>> dims) {
  auto* in = g.add_input();
  in->set_name(name);
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(::onnx::TensorProto::FLOAT);
  for (const auto& d : dims) {
    auto* dim = tt->mutable_shape()->add_dim();
    if (std::holds_alternative<int64_t>(d))
      dim->set_dim_value(std::get<int64_t>(d));
    else
      dim->set_dim_param(std::get<std::string>(d));
  }
}

// y = Mul(x, W) with W given by `fill_weight` and x of shape [N, 3].
::onnx::ModelProto mul_model(const std::function<void(::onnx::TensorProto&)>& fill_weight,
                             int64_t opset = 13) {
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(opset);
  auto* g = m.mutable_graph();
  add_input(*g, "x", {std::string("N"), int64_t{3}});
  auto* w = g->add_initializer();
  w->set_name("W");
  w->add_dims(3);
  fill_weight(*w);
  auto* n = g->add_node();
  n->set_op_type("Mul");
  n->add_input("x");
  n->add_input("W");
  n->add_output("y");
  g->add_output()->set_name("y");
  return m;
}

std::vector<double> run_mul(const Graph& g, Tensor x) {
  Session s(g);
  return s.run({{"x", std::move(x)}}).at("y").to_doubles();
}

Graph parse(const ::onnx::ModelProto& m, const fs::path& dir = {}) {
  const std::string bytes = m.SerializeAsString();
  return parse_onnx(std::as_bytes(std::span(bytes)), dir, "test.onnx");
}

TEST(OnnxImport, RawAndTypedInitializersAgree) {
  const auto typed = mul_model([](auto& w) {
    w.set_data_type(::onnx::TensorProto::FLOAT);
    for (float v : {1.0f, 2.0f, 3.0f}) w.add_float_data(v);
  });
  const auto raw = mul_model([](auto& w) {
    w.set_data_type(::onnx::TensorProto::FLOAT);
    const float v[] = {1.0f, 2.0f, 3.0f};
    w.set_raw_data(v, sizeof v);
  });
  const Tensor x = Tensor::from_values<float>({1, 3}, {1, 1, 2});
  EXPECT_EQ(run_mul(parse(typed), x), (std::vector<double>{1, 2, 6}));
  EXPECT_EQ(run_mul(parse(raw), x), (std::vector<double>{1, 2, 6}));
}

TEST(OnnxImport, SymbolicBatchRunsAtAnySize) {
  const Graph g = parse(mul_model([](auto& w) {
    w.set_data_type(::onnx::TensorProto::FLOAT);
    for (float v : {1.0f, 10.0f, 100.0f}) w.add_float_data(v);
  }));
  EXPECT_EQ(g.value("x").type->dims, (Dims{-1, 3}));
  EXPECT_EQ(g.value("x").dim_params[0], "N");
  EXPECT_EQ(run_mul(g, Tensor::from_values<float>({2, 3}, {1, 1, 1, 2, 2, 2})),
            (std::vector<double>{1, 10, 100, 2, 20, 200}));
  EXPECT_EQ(run_mul(g, Tensor::from_values<float>({1, 3}, {3, 3, 3})),
            (std::vector<double>{3, 30, 300}));
}

TEST(OnnxImport, ExternalDataIsReadNextToTheModel) {
  const fs::path dir = temp_dir("external");
  {
    std::ofstream out(dir / "weights.bin", std::ios::binary);
    const float pad = 0, v[] = {4.0f, 5.0f, 6.0f};
    out.write(reinterpret_cast<const char*>(&pad), sizeof pad);  // offset 4
    out.write(reinterpret_cast<const char*>(v), sizeof v);
  }
  auto external = [](const std::string& location) {
    return mul_model([location](auto& w) {
      w.set_data_type(::onnx::TensorProto::FLOAT);
      w.set_data_location(::onnx::TensorProto::EXTERNAL);
      auto* loc = w.add_external_data();
      loc->set_key("location");
      loc->set_value(location);
      auto* off = w.add_external_data();
      off->set_key("offset");
      off->set_value("4");
    });
  };
  EXPECT_EQ(
      run_mul(parse(external("weights.bin"), dir), Tensor::from_values<float>({1, 3}, {1, 1, 1})),
      (std::vector<double>{4, 5, 6}));
  const Error escape = capture_error([&] { parse(external("../weights.bin"), dir); });
  EXPECT_NE(std::string(escape.what()).find("leaves the model's directory"), std::string::npos);
  const Error missing = capture_error([&] { parse(external("absent.bin"), dir); });
  EXPECT_EQ(missing.kind(), ErrorKind::io);
  fs::remove_all(dir);
}

TEST(OnnxImport, Int8AndFloat16TypedFieldsUseInt32Data) {
  ::onnx::TensorProto t;
  t.set_data_type(::onnx::TensorProto::INT8);
  t.add_dims(2);
  t.add_int32_data(-5);
  t.add_int32_data(7);
  const std::string bytes = t.SerializeAsString();
  EXPECT_EQ(parse_tensor_proto(std::as_bytes(std::span(bytes))).tensor.to_int64s(),
            (std::vector<int64_t>{-5, 7}));
  ::onnx::TensorProto h;
  h.set_data_type(::onnx::TensorProto::FLOAT16);
  h.add_dims(1);
  h.add_int32_data(0x3c00);  // 1.0
  const std::string hb = h.SerializeAsString();
  EXPECT_EQ(parse_tensor_proto(std::as_bytes(std::span(hb))).tensor.to_doubles(),
            (std::vector<double>{1.0}));
}

TEST(OnnxImport, WrongElementCountNamesTheInitializer) {
  const auto m = mul_model([](auto& w) {
    w.set_data_type(::onnx::TensorProto::FLOAT);
    w.add_float_data(1.0f);
  });
  const Error e = capture_error([&] { parse(m); });
  EXPECT_EQ(e.kind(), ErrorKind::invalid_model);
  EXPECT_NE(std::string(e.what()).find("initializer 'W'"), std::string::npos);
}

TEST(OnnxImport, TruncatedAndRandomBytesAreCleanErrors) {
  const std::string bytes = mul_model([](auto& w) {
                              w.set_data_type(::onnx::TensorProto::FLOAT);
                              for (float v : {1.0f, 2.0f, 3.0f}) w.add_float_data(v);
                            }).SerializeAsString();
  for (size_t cut : {bytes.size() / 2, bytes.size() - 1, size_t(3)}) {
    const std::string part = bytes.substr(0, cut);
    EXPECT_THROW(parse_onnx(std::as_bytes(std::span(part))), Error) << "cut at " << cut;
  }
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::string noise(size_t(rng() % 512), '\0');
    for (char& c : noise) c = char(rng());
    try {
      parse_onnx(std::as_bytes(std::span(noise)));
    } catch (const Error&) {
    }
  }
}

TEST(OnnxImport, NewerOpsetIsUnsupported) {
  const auto m = mul_model(
      [](auto& w) {
        w.set_data_type(::onnx::TensorProto::FLOAT);
        for (float v : {1.0f, 2.0f, 3.0f}) w.add_float_data(v);
      },
      18);
  const Error e = capture_error([&] { parse(m); });
  EXPECT_EQ(e.kind(), ErrorKind::unsupported);
  EXPECT_NE(std::string(e.what()).find("opset 18"), std::string::npos);
}

TEST(OnnxImport, ConstantNodesBecomeInitializersAndIdentitiesVanish) {
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  add_input(*g, "x", {int64_t{2}});
  auto* c = g->add_node();
  c->set_op_type("Constant");
  c->add_output("k");
  auto* attr = c->add_attribute();
  attr->set_name("value_floats");
  attr->set_type(::onnx::AttributeProto::FLOATS);
  attr->add_floats(3);
  attr->add_floats(4);
  auto* id = g->add_node();
  id->set_op_type("Identity");
  id->add_input("x");
  id->add_output("x2");
  auto* add = g->add_node();
  add->set_op_type("Add");
  add->add_input("x2");
  add->add_input("k");
  add->add_output("y");
  g->add_output()->set_name("y");
  const Graph graph = parse(m);
  ASSERT_EQ(graph.nodes.size(), 1u);
  EXPECT_EQ(graph.nodes[0].op_type, "Add");
  EXPECT_EQ(graph.nodes[0].inputs[0], "x");
  ASSERT_TRUE(graph.value("k").initializer.has_value());
  Session s(graph);
  EXPECT_EQ(s.run({{"x", Tensor::from_values<float>({2}, {1, 1})}}).at("y").to_doubles(),
            (std::vector<double>{4, 5}));
}

TEST(OnnxExport, RoundTripKeepsAttributesAndOutputs) {
  Graph g;
  g.opset = 13;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {-1, 2, 5, 5}};
  g.value("x").dim_params = {"batch", "", "", ""};
  g.value("w").initializer = testing::arange({4, 2, 3, 3});
  g.value("b").initializer = Tensor::from_values<float>({4}, {0.1f, -0.2f, 0.3f, -0.4f});
  g.nodes = {Node{"conv",
                  "Conv",
                  "",
                  {"x", "w", "b"},
                  {"c"},
                  {{"pads", testing::ints({1, 1, 1, 1})}, {"strides", testing::ints({2, 2})}}},
             Node{"act", "LeakyRelu", "", {"c"}, {"y"}, {{"alpha", testing::f32(0.25f)}}}};
  g.outputs = {"y"};
  const std::string bytes = serialize_onnx(g);
  const Graph back = parse_onnx(std::as_bytes(std::span(bytes)));
  ASSERT_EQ(back.nodes.size(), 2u);
  EXPECT_EQ(back.nodes[0].attr_ints("strides"), (Dims{2, 2}));
  EXPECT_FLOAT_EQ(back.nodes[1].attr_float("alpha"), 0.25f);
  EXPECT_EQ(back.value("x").dim_params[0], "batch");
  const Tensor x = testing::arange({2, 2, 5, 5}, -20);
  Session a(g), b(back);
  EXPECT_EQ(a.run({{"x", x}}).at("y").to_doubles(), b.run({{"x", x}}).at("y").to_doubles());
}

TEST(OnnxExport, SaveWritesAtomically) {
  const fs::path dir = temp_dir("save");
  Graph g;
  g.inputs = {"x"};
  g.value("x").type = TensorType{DType::f32, {1}};
  g.nodes = {Node{"r", "Relu", "", {"x"}, {"y"}}};
  g.outputs = {"y"};
  save_onnx(g, dir / "m.onnx");
  EXPECT_TRUE(fs::exists(dir / "m.onnx"));
  EXPECT_FALSE(fs::exists(dir / "m.onnx.tmp"));
  EXPECT_EQ(load_onnx(dir / "m.onnx").nodes.size(), 1u);
  EXPECT_THROW(save_onnx(g, dir / "no_such_dir" / "m.onnx"), Error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace edgeco
