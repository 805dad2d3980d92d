#include "common.h"
namespace latentedit::cli {
void register_evaluate(CLI::App&, std::vector<Command>&, const std::string&) {}
void register_convert(CLI::App&, std::vector<Command>&, const std::string&) {}
}
