#include <fstream>
#include <sstream>

#include "edgeco/core.h"

namespace edgeco {

std::string read_text_file(const std::filesystem::path& path, std::string_view what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw Error(ErrorKind::io,
                "the " + std::string(what) +
                    (fs::exists(path, ec) ? " is not a regular file" : " does not exist"),
                path.string());
  if (fs::file_size(path, ec) > (uintmax_t(1) << 30))
    throw Error(ErrorKind::io, "the " + std::string(what) + " is larger than 1 GiB", path.string());
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::io, "cannot read the " + std::string(what), path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace edgeco
