// Uses only installed public headers: parses settings, edits one latent of the bundle given on
// the command line, prints the target probability before and after.
#include <latentedit/latentedit.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  using namespace latentedit;
  const Models m = load_bundle(argv[1]);
  const EditSettings s = EditSettings::from_json({{"add", {"Smiling"}}, {"steps", 3}}, m.attributes);
  const EditResult r = edit(m, sample_latents(1, 1, m.z_dim), s.spec);
  const int t = s.spec.targets[0].attribute;
  std::printf("%s %.4f %.4f\n", m.attributes[t].c_str(), r.probs[0][0][t].item<double>(), r.probs[3][0][t].item<double>());
  return r.probs[3][0][t].item<double>() > r.probs[0][0][t].item<double>() ? 0 : 1;
}
