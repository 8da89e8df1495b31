#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "edgeco/data.h"

namespace edgeco::cli {
namespace {

struct DatasetOptions {
  std::string name;
  std::string path;
  std::string split = "test";
  bool json = false;
};

}  // namespace

void add_dataset_command(CLI::App& app) {
  auto o = std::make_shared<DatasetOptions>();
  auto* cmd = app.add_subcommand(
      "dataset",
      "Read a data set and summarise it: sample shape, per-class counts, per-channel mean.\n"
      "fashion-mnist is read from Debian's dataset-fashion-mnist (gzip'd IDX files) unless --path\n"
      "names another folder; cifar100 (binary train.bin/test.bin) and uci-har (the data set's\n"
      "folder with train/ and test/) need --path.");
  cmd->add_option("NAME", o->name, "fashion-mnist, cifar100 or uci-har")
      ->required()
      ->check(CLI::IsMember({"fashion-mnist", "cifar100", "uci-har"}));
  cmd->add_option("--path", o->path, "where the files are");
  cmd->add_option("--split", o->split, "train or test (default test)")
      ->check(CLI::IsMember({"train", "test"}));
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->callback([o] {
    const Dataset d = load_dataset(o->name, o->path, o->split);
    std::map<int64_t, int64_t> per_class;
    for (int64_t v : d.labels.to_int64s()) ++per_class[v];
    nlohmann::json counts = nlohmann::json::object();
    for (const auto& [label, count] : per_class) counts[d.classes.at(size_t(label))] = count;
    const nlohmann::json j{
        {"name", d.name},
        {"samples", d.size()},
        {"sample_shape", Dims(d.samples.dims().begin() + 1, d.samples.dims().end())},
        {"classes", d.classes.size()},
        {"per_class", counts},
        {"channel_mean", channel_means(d.samples)}};
    if (o->json) {
      std::cout << j.dump(2) << "\n";
      return;
    }
    std::printf("%s: %lld samples of shape %s, %zu classes\n", d.name.c_str(),
                static_cast<long long>(d.size()),
                dims_to_string(j["sample_shape"].get<Dims>()).c_str(), d.classes.size());
    for (const auto& [label, count] : per_class)
      std::printf("  %-20s %lld\n", d.classes.at(size_t(label)).c_str(),
                  static_cast<long long>(count));
    std::printf("channel mean:");
    for (double m : j["channel_mean"]) std::printf(" %.4f", m);
    std::printf("\n");
  });
}

}  // namespace edgeco::cli
