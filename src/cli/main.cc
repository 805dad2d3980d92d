// latentedit — command-line front end. Each subcommand lives in its own file; this one
// parses, dispatches, and maps errors to exit codes (see docs/cli.md "Exit codes").
#include <c10/util/Exception.h>

#include <opencv2/core/utils/logger.hpp>

#include <filesystem>
#include <iostream>
#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#include <pthread.h>
#include <thread>
#include <csignal>

#include "common.h"
#include "latentedit/errors.h"
#include "io/fsutil.h"
#include "io/runtime.h"

int main(int argc, char** argv) {
  using namespace latentedit;
  tune_allocator();
  // The commands are single-threaded where they decode images: third-party decoders' warnings
  // are kept off the terminal. `serve` turns this off again (fd 2 is shared by its requests).
  quiet_image_decoders(true);
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);  // our one-line errors only
  CLI::App app{"latentedit: edit GAN latents toward CelebA attributes (controllable generation)"};
  app.set_version_flag("--version", std::string("latentedit ") + LATENTEDIT_VERSION);
  app.require_subcommand(1);
  app.option_defaults()->always_capture_default();  // --help shows every default
  std::vector<cli::Command> cmds;
  const std::string argv0 = argv[0];
  cli::register_edit(app, cmds, argv0);
  cli::register_info(app, cmds, argv0);
  cli::register_data(app, cmds, argv0);
  cli::register_train(app, cmds, argv0);
  cli::register_evaluate(app, cmds, argv0);
  cli::register_convert(app, cmds, argv0);
  cli::register_batch(app, cmds, argv0);
  cli::register_directions(app, cmds, argv0);
  cli::register_serve(app, cmds, argv0);
  cli::register_invert(app, cmds, argv0);
  // CLI11 turns a list option given only separators ("--keep ,") into a confusing message
  // about another option: say what is wrong instead.
  for (int i = 1; i + 1 < argc; ++i) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a.rfind("--", 0) == 0 && !v.empty() && v.find_first_not_of(", ") == std::string::npos) {
      std::cerr << "latentedit: usage error: " << a << ": \"" << v << "\" is an empty list; give the items separated by commas (see --help)" << std::endl;
      return static_cast<int>(cli::ExitCode::kUsage);
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "latentedit: usage error: " << cli::reword_parse_error(e.what()) << " (see --help)" << std::endl;
    return static_cast<int>(cli::ExitCode::kUsage);
  }
  // Ctrl-C, SIGTERM, SIGHUP: every command but serve (which stops itself cleanly) leaves nothing
  // half-written. Threads that exist already (OpenBLAS starts its pool when the library loads,
  // unless OMP_NUM_THREADS=1) do not block the signals, so a handler catches them in whichever
  // thread they land on and only writes the signal's number to a pipe; a watcher thread reads it,
  // removes this process's staging directories and exits 128 + signal, as the default action's
  // status would say. Threads started later (torch's pools) inherit a mask that blocks them.
  bool serving = false;
  for (auto& c : cmds) serving = serving || (c.app->parsed() && c.app->get_name() == "serve");
  if (!serving) {
    static int pipe_fds[2] = {-1, -1};
    if (::pipe2(pipe_fds, O_CLOEXEC) == 0) {
      struct sigaction sa {};
      sa.sa_handler = [](int sig) {
        const unsigned char b = static_cast<unsigned char>(sig);
        (void)!::write(pipe_fds[1], &b, 1);
      };
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESTART;
      for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
      std::thread([] {
        unsigned char sig = 0;
        while (::read(pipe_fds[0], &sig, 1) != 1) {
          if (errno != EINTR) return;
        }
        remove_staging_dirs();
        const char msg[] = "\nlatentedit: interrupted; nothing half-written was left\n";
        (void)!::write(2, msg, sizeof msg - 1);
        std::_Exit(128 + sig);
      }).detach();
      sigset_t set;
      sigemptyset(&set);
      for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
      pthread_sigmask(SIG_BLOCK, &set, nullptr);  // this thread and those it starts leave them to the others
    }
  }
  try {
    cli::check_numbers(app);
    for (auto& c : cmds)
      if (c.app->parsed()) return c.run();
    std::cerr << "latentedit: usage error: no subcommand (see --help)" << std::endl;
    return static_cast<int>(cli::ExitCode::kUsage);
  } catch (const Error& e) {
    const char* kind = e.kind() == ErrorKind::kUsage ? "usage error" : "error";
    std::cerr << "latentedit: " << kind << ": " << e.what() << cli::remedy_text(e) << std::endl;
    return static_cast<int>(cli::exit_code(e));
  } catch (const std::filesystem::filesystem_error& e) {
    // A path the filesystem refuses (a symlink loop, a name too long, no permission on a parent):
    // the user's input, said in one line with the path.
    std::string p = e.path1().string();
    if (!e.path2().empty()) p += " -> " + e.path2().string();
    std::cerr << "latentedit: error: cannot use " << (p.empty() ? std::string("a path") : "'" + p + "'") << ": "
              << e.code().message() << "; check the path" << std::endl;
    return static_cast<int>(cli::ExitCode::kBadInput);
  } catch (const c10::Error& e) {
    std::string m = e.what_without_backtrace();
    std::cerr << "latentedit: internal error (libtorch): " << m.substr(0, m.find('\n'))
              << " (please report this with the command line)" << std::endl;
    return static_cast<int>(cli::ExitCode::kInternal);
  } catch (const std::exception& e) {
    std::cerr << "latentedit: internal error: " << one_line(e.what()) << " (please report this with the command line)" << std::endl;
    return static_cast<int>(cli::ExitCode::kInternal);
  }
}
