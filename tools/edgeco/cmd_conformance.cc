#include <unistd.h>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "edgeco/conformance.h"

namespace edgeco::cli {
namespace {

struct ConformanceOptions {
  std::vector<std::string> dirs;
  bool json = false;
  bool quiet = false;
  double rtol = 1e-3, atol = 1e-7;
};

int run_conformance(const ConformanceOptions& o) {
  std::vector<std::filesystem::path> roots(o.dirs.begin(), o.dirs.end());
  const auto cases = find_conformance_cases(roots);
  const Tolerance tol{o.rtol, o.atol};
  size_t counts[3] = {0, 0, 0};
  nlohmann::json j;
  j["tests"] = nlohmann::json::array();
  const bool progress = o.json && isatty(STDERR_FILENO);
  for (size_t i = 0; i < cases.size(); ++i) {
    const CaseResult r = run_conformance_case(cases[i], tol);
    ++counts[static_cast<size_t>(r.status)];
    if (o.json) {
      j["tests"].push_back({{"name", r.name},
                            {"path", cases[i].string()},
                            {"status", std::string(to_string(r.status))},
                            {"detail", r.detail},
                            {"max_abs_error", r.max_abs_error},
                            {"seconds", r.seconds}});
      if (progress)
        std::fprintf(stderr, "\r[%zu/%zu] %-60.60s", i + 1, cases.size(), r.name.c_str());
    } else if (!o.quiet || r.status != CaseStatus::passed) {
      std::printf("%-8s %s%s%s\n", std::string(to_string(r.status)).c_str(), r.name.c_str(),
                  r.detail.empty() ? "" : ": ", r.detail.c_str());
      std::fflush(stdout);
    }
  }
  if (progress) std::fprintf(stderr, "\n");
  if (o.json) {
    j["passed"] = counts[0];
    j["failed"] = counts[1];
    j["skipped"] = counts[2];
    j["rtol"] = o.rtol;
    j["atol"] = o.atol;
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("%zu passed, %zu failed, %zu skipped\n", counts[0], counts[1], counts[2]);
  }
  return counts[1] == 0 ? 0 : 1;
}

}  // namespace

void add_conformance_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("conformance",
                                 "Run ONNX backend test folders (model.onnx + "
                                 "test_data_set_*/input_*.pb, output_*.pb) and compare outputs.\n"
                                 "A test is skipped when it uses an operator edgeco does not "
                                 "register; it fails on any other error or\n"
                                 "mismatch. Exits 1 when any test fails.");
  auto o = std::make_shared<ConformanceOptions>();
  cmd->add_option(
         "DIR", o->dirs,
         "a test folder, or a folder of test folders (e.g. /usr/share/libonnx-testdata/data/node)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_flag("--json", o->json, "print one JSON object with every test and the counts");
  cmd->add_flag("--quiet,-q", o->quiet, "print only failed and skipped tests and the closing line");
  cmd->add_option("--rtol", o->rtol, "relative tolerance (default 1e-3, as ONNX's runner)");
  cmd->add_option("--atol", o->atol, "absolute tolerance (default 1e-7, as ONNX's runner)");
  cmd->callback([o] {
    const int rc = run_conformance(*o);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace edgeco::cli
