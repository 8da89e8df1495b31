#include "edgeco/core.h"

namespace edgeco {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_model:
      return "invalid model";
    case ErrorKind::invalid_argument:
      return "invalid argument";
    case ErrorKind::unsupported:
      return "unsupported";
    case ErrorKind::io:
      return "i/o error";
    case ErrorKind::out_of_memory:
      return "out of memory";
    case ErrorKind::internal:
      return "internal error";
  }
  return "error";
}

namespace {
std::string compose(const std::string& message, const std::string& where) {
  return where.empty() ? message : where + ": " + message;
}
}  // namespace

Error::Error(ErrorKind kind, std::string message, std::string where)
    : std::runtime_error(compose(message, where)),
      kind_(kind),
      message_(std::move(message)),
      where_(std::move(where)) {}

Error Error::within(std::string_view outer) const {
  std::string where(outer);
  if (!where_.empty()) where += ": " + where_;
  return Error(kind_, message_, std::move(where));
}

}  // namespace edgeco
