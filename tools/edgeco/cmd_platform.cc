// edgeco platforms / platform show / profile: the hardware model from the command line. Every
// figure these print is modelled (from platforms/*.yaml), and says so.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "edgeco/compiler.h"
#include "edgeco/hw.h"
#include "edgeco/onnx.h"
#include "edgeco/runtime.h"

namespace edgeco::cli {
namespace {

using namespace edgeco::hw;

nlohmann::json device_json(const Device& d) {
  nlohmann::json opps = nlohmann::json::array(), rates = nlohmann::json::object();
  for (const auto& p : d.opps) opps.push_back({{"mhz", p.mhz}, {"volts", p.volts}});
  for (const auto& [type, classes] : d.macs_per_cycle)
    for (const auto& [cls, v] : classes)
      rates[std::string(to_string(type))][std::string(to_string(cls))] = v;
  return {{"name", d.name},
          {"kind", to_string(d.kind)},
          {"opps", opps},
          {"capacitance_nf", d.capacitance_nf},
          {"activity", d.activity},
          {"leakage_w", d.leakage_w},
          {"max_dynamic_w", d.dynamic_watts(d.opps.back())},
          {"macs_per_cycle", rates},
          {"onchip_bytes", d.onchip_bytes},
          {"onchip_gbps", d.onchip_gbps},
          {"llc_bytes", d.llc_bytes},
          {"llc_gbps", d.llc_gbps},
          {"dram_gbps", d.dram_gbps},
          {"overhead_us", d.overhead_us},
          {"transcendental_per_cycle", d.transcendental_per_cycle},
          {"memory_overlap", d.memory_overlap},
          {"ops", d.ops.empty() ? nlohmann::json("all") : nlohmann::json(d.ops)}};
}

void show(const std::string& name, bool json) {
  const Platform p = find_platform(name);
  if (json) {
    nlohmann::json devices = nlohmann::json::array();
    for (const Device& d : p.devices) devices.push_back(device_json(d));
    std::cout << nlohmann::json{{"name", p.name},
                                {"description", p.description},
                                {"file", p.file.string()},
                                {"static_watts", p.static_watts},
                                {"throttle_c", p.thermal.throttle_c},
                                {"battery_mah", p.battery.capacity_mah},
                                {"devices", devices},
                                {"sources", p.sources}}
                     .dump(2)
              << "\n";
    return;
  }
  std::printf("%s: %s\n  file %s (every constant's source is beside it there)\n", p.name.c_str(),
              p.description.c_str(), p.file.c_str());
  std::printf("  board static %.2f W; thermal throttle %.1f C; battery %.0f mAh\n", p.static_watts,
              p.thermal.throttle_c, p.battery.capacity_mah);
  for (const Device& d : p.devices) {
    std::printf("  %-4s %-4s %zu operating points %.0f-%.0f MHz, dynamic %.2f W at max, %s ops\n",
                d.name.c_str(), std::string(to_string(d.kind)).c_str(), d.opps.size(),
                d.opps.front().mhz, d.opps.back().mhz, d.dynamic_watts(d.opps.back()),
                d.ops.empty() ? "all" : std::to_string(d.ops.size()).c_str());
    for (const auto& [type, classes] : d.macs_per_cycle) {
      std::string line;
      for (const auto& [cls, v] : classes)
        line += " " + std::string(to_string(cls)) + "=" + human(v);
      std::printf("       %s MACs/cycle:%s\n", std::string(to_string(type)).c_str(), line.c_str());
    }
  }
}

void profile(const std::string& model_path, const std::string& platform, bool json) {
  const Platform p = find_platform(platform);
  const ModelProfile prof = edgeco::profile(load_onnx(model_path), p, {}, reference_evaluator());
  nlohmann::json nodes = nlohmann::json::array();
  // Convolutions every device can run: their energy and mean power per device, alone and with
  // the board around it (static power and the idle devices' leakage) as a power meter sees it.
  std::map<std::string, std::tuple<double, double, double>> conv_totals;  // ms, device mJ, board mJ
  std::map<std::string, int> conv_capable;
  int convs = 0;
  for (const NodeProfile& n : prof.nodes) {
    const NodeWork& w = n.demand.work;
    const bool conv = w.op_class == OpClass::dense_conv || w.op_class == OpClass::depthwise_conv ||
                      w.op_class == OpClass::winograd_conv;
    if (conv) ++convs;
    nlohmann::json per = nlohmann::json::object();
    for (const auto& [device, price] : n.devices) {
      per[device] = {{"type", to_string(price.type)},
                     {"latency_ms", price.device.latency_ms},
                     {"energy_mj", price.energy_mj},
                     {"device_energy_mj", price.device.energy_mj},
                     {"bound", price.device.memory_bound ? "memory" : "compute"}};
      if (!conv) continue;
      auto& [ms, device_mj, board_mj] = conv_totals[device];
      ms += price.device.latency_ms;
      device_mj += price.device.energy_mj;
      board_mj += price.energy_mj;
      ++conv_capable[device];
    }
    nodes.push_back({{"name", n.demand.node},
                     {"op", n.demand.op_type},
                     {"class", to_string(w.op_class)},
                     {"type", to_string(w.type)},
                     {"macs", w.macs},
                     {"bytes_read", w.bytes_read},
                     {"bytes_written", w.bytes_written},
                     {"devices", per},
                     {"best", n.best}});
  }
  nlohmann::json conv = nlohmann::json::object();
  for (const auto& [device, t] : conv_totals) {
    const auto& [ms, device_mj, board_mj] = t;
    if (conv_capable[device] != convs) continue;
    conv[device] = {{"latency_ms", ms},
                    {"energy_mj", device_mj},
                    {"mean_power_w", ms > 0 ? device_mj / ms : 0.0},
                    {"board_energy_mj", board_mj},
                    {"board_power_w", ms > 0 ? board_mj / ms : 0.0}};
  }
  if (json) {
    std::cout << nlohmann::json{{"model", model_path},
                                {"platform", p.name},
                                {"operating_point", "each device's highest"},
                                {"energy",
                                 "energy_mj: the board's over the node, as compile "
                                 "charges it; device_energy_mj: the device's own"},
                                {"what", "modelled from " + p.file.string() + ", not measured"},
                                {"nodes", nodes},
                                {"convolutions", conv}}
                     .dump(2)
              << "\n";
    return;
  }
  std::printf(
      "%s on %s (modelled, each device at its highest operating point; mJ: the board's, as "
      "compile charges it)\n",
      model_path.c_str(), p.name.c_str());
  std::printf("%-28s %-12s %-5s %10s", "node", "class", "type", "MACs");
  for (const Device& d : p.devices) std::printf(" %9s ms %8s mJ", d.name.c_str(), d.name.c_str());
  std::printf("  best\n");
  for (const auto& n : nodes) {
    std::printf("%-28.28s %-12.12s %-5s %10s", n["name"].get<std::string>().c_str(),
                n["class"].get<std::string>().c_str(), n["type"].get<std::string>().c_str(),
                human(double(n["macs"].get<int64_t>())).c_str());
    for (const Device& d : p.devices) {
      if (!n["devices"].contains(d.name)) {
        std::printf(" %12s %11s", "-", "-");
        continue;
      }
      const auto& c = n["devices"][d.name];
      std::printf(" %12.4f %11.5f", c["latency_ms"].get<double>(), c["energy_mj"].get<double>());
    }
    std::printf("  %s\n", n["best"].get<std::string>().c_str());
  }
  std::printf("\nconvolutions (%d), on each device that runs them all:\n", convs);
  for (const auto& [device, c] : conv.items())
    std::printf("  %-4s %9.3f ms %9.4f mJ  device power %.3f W, board %.3f W (%.4f mJ)\n",
                device.c_str(), c["latency_ms"].get<double>(), c["energy_mj"].get<double>(),
                c["mean_power_w"].get<double>(), c["board_power_w"].get<double>(),
                c["board_energy_mj"].get<double>());
  if (conv.contains("cpu") && conv.contains("npu")) {
    auto ratio = [&](const char* key) {
      return conv["cpu"][key].get<double>() / conv["npu"][key].get<double>();
    };
    std::printf(
        "  npu vs cpu (modelled): device %.2fx less energy, %.2fx less power; board %.2fx "
        "less energy, %.2fx less power\n",
        ratio("energy_mj"), ratio("mean_power_w"), ratio("board_energy_mj"),
        ratio("board_power_w"));
  }
}

}  // namespace

void add_platform_commands(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  auto* list = app.add_subcommand("platforms", "List the platform presets (platforms/*.yaml)");
  list->add_flag("--json", *json, "print one JSON object");
  list->callback([json] {
    const auto names = preset_names();
    if (*json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& n : names) {
        const Platform p = find_platform(n);
        nlohmann::json devices = nlohmann::json::array();
        for (const Device& d : p.devices) devices.push_back(d.name);
        out.push_back({{"name", n}, {"description", p.description}, {"devices", devices}});
      }
      std::cout << nlohmann::json{{"platforms", out}, {"dir", platform_dir().string()}}.dump(2)
                << "\n";
      return;
    }
    for (const auto& n : names)
      std::printf("%-24s %s\n", n.c_str(), find_platform(n).description.c_str());
  });

  auto* platform = app.add_subcommand("platform", "Inspect a platform description");
  platform->require_subcommand(1);
  auto name = std::make_shared<std::string>();
  auto* show_cmd = platform->add_subcommand(
      "show", "A platform's devices: operating points, power, throughput, memory, ops");
  show_cmd->add_option("PLATFORM", *name, "a preset name or a YAML file")->required();
  show_cmd->add_flag("--json", *json, "print one JSON object");
  show_cmd->callback([name, json] { show(*name, *json); });

  auto model = std::make_shared<std::string>();
  auto* profile_cmd = app.add_subcommand(
      "profile",
      "Modelled latency and energy of every layer on every device of a platform that can run it\n"
      "(roofline: compute vs memory bound, plus overheads), and the convolutions' totals.");
  profile_cmd->add_option("MODEL", *model, "ONNX model (an int8 QDQ model runs int8 on NPUs)")
      ->required()
      ->check(CLI::ExistingFile);
  profile_cmd->add_option("--platform", *name, "a preset name or a YAML file")->required();
  profile_cmd->add_flag("--json", *json, "print one JSON object");
  profile_cmd->callback([model, name, json] { profile(*model, *name, *json); });
}

}  // namespace edgeco::cli
