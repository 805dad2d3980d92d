// `import latentedit`: the C++ library from Python (pybind11), numpy in and out. The same
// functions the CLI and the server call — read_edit_request for an edit's keywords (the batch
// job / POST /edit form), edit, audit_edit, make_edit_outputs, classify, invert — no second
// implementation. Errors map to Python exceptions by kind; long calls release the GIL and stop on
// Ctrl-C (KeyboardInterrupt) at the next progress report; nothing is printed.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "batch/request.h"
#include "io/fsutil.h"
#include "io/runtime.h"
#include "edit/messages.h"
#include "latentedit/latentedit.h"
#include "model/networks.h"

namespace py = pybind11;
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace latentedit;

namespace {

// Raised as latentedit.ModelError: missing, corrupt or mismatched model files.
py::object model_error;

// Thrown out of a progress callback to stop a long call: Ctrl-C, or the callback raised. The
// Python error is kept (fetched) and restored once the GIL is held again.
struct Abort {
  PyObject *type = nullptr, *value = nullptr, *trace = nullptr;
};

// Calls `fn` (a library call that may take seconds) without the GIL; Abort thrown from a progress
// callback comes back as the Python error it carries.
template <class F>
auto without_gil(F&& fn) {
  std::optional<Abort> abort;
  try {
    py::gil_scoped_release release;
    return fn();
  } catch (const Abort& a) {
    abort = a;
  }
  PyErr_Restore(abort->type, abort->value, abort->trace);
  throw py::error_already_set();
}

// Inside a callback (GIL not held): take it, check for Ctrl-C, call the user's function.
void check_in(const py::object& user, const std::function<py::dict()>& what) {
  py::gil_scoped_acquire gil;
  Abort a;
  if (!user.is_none()) try {
      user(what());
    } catch (py::error_already_set& e) {
      e.restore();
      PyErr_Fetch(&a.type, &a.value, &a.trace);
      throw a;
    }
  if (PyErr_CheckSignals() != 0) {
    PyErr_Fetch(&a.type, &a.value, &a.trace);
    throw a;
  }
}

// (N, 3, H, W) in the model's range -> uint8 (N, H, W, 3) RGB, quantised as the PNGs are.
py::array_t<uint8_t> to_uint8(const torch::Tensor& images, double lo, double hi) {
  const torch::Tensor t = ((images.detach().to(torch::kFloat32) - lo) * (255.0 / (hi - lo)))
                              .round()
                              .clamp(0, 255)
                              .to(torch::kUInt8)
                              .permute({0, 2, 3, 1})
                              .contiguous();
  py::array_t<uint8_t> a({t.size(0), t.size(1), t.size(2), t.size(3)});
  std::memcpy(a.mutable_data(), t.data_ptr<uint8_t>(), t.numel());
  return a;
}

py::array_t<float> to_float(const torch::Tensor& x) {
  const torch::Tensor t = x.detach().to(torch::kFloat32).contiguous();
  std::vector<py::ssize_t> shape(t.sizes().begin(), t.sizes().end());
  py::array_t<float> a(shape);
  std::memcpy(a.mutable_data(), t.data_ptr<float>(), t.numel() * sizeof(float));
  return a;
}

// A float32 (N, d) array (any float or int dtype, C order or not) as a tensor.
torch::Tensor latents_from(const py::handle& obj, int64_t z_dim, const char* what) {
  auto a = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(obj);
  if (!a) throw UsageError(std::string(what) + " must be an array of numbers of shape (N, " + std::to_string(z_dim) + ")");
  if (a.ndim() == 1 && a.shape(0) == z_dim) a = a.reshape({py::ssize_t(1), py::ssize_t(z_dim)});
  if (a.ndim() != 2 || a.shape(1) != z_dim || a.shape(0) < 1)
    throw UsageError(std::string(what) + " must have shape (N, " + std::to_string(z_dim) + "), not " + py::str(py::tuple(py::cast(std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim())))).cast<std::string>());
  return torch::from_blob(const_cast<float*>(a.data()), {a.shape(0), a.shape(1)}, torch::kFloat32).clone();
}

json to_json(const py::handle& obj) {
  py::module_ jsonmod = py::module_::import("json");
  std::string text;
  try {
    text = jsonmod.attr("dumps")(obj, py::arg("allow_nan") = false).cast<std::string>();
  } catch (py::error_already_set& e) {
    throw UsageError(std::string("a value is not representable as JSON: ") + e.what());
  }
  return json::parse(text);
}

py::object to_python(const json& j) { return py::module_::import("json").attr("loads")(j.dump()); }

// Images for score/invert: a list of paths, or a uint8 array (N, H, W, 3) RGB (or one (H, W, 3)),
// or floats in [0, 1]; each resized on its shorter side and centre-cropped like an image file.
torch::Tensor images_from(const py::handle& obj, const Models& m) {
  const int size = static_cast<int>(m.image_size);
  std::vector<torch::Tensor> xs;
  if (py::isinstance<py::str>(obj) || py::isinstance(obj, py::module_::import("os").attr("PathLike")))
    return images_from(py::make_tuple(obj), m);
  if (!py::isinstance<py::array>(obj) && py::isinstance<py::sequence>(obj)) {
    const auto seq = obj.cast<py::sequence>();
    bool paths = seq.size() > 0;
    for (auto it : seq) paths = paths && (py::isinstance<py::str>(it) || py::isinstance(it, py::module_::import("os").attr("PathLike")));
    if (paths) {
      for (auto it : seq) xs.push_back(load_image_for_model(py::str(it).cast<std::string>(), size, m.range_lo, m.range_hi));
      return torch::stack(xs);
    }
  }
  py::array a = py::array::ensure(obj);
  if (!a) throw UsageError("images must be file paths or an array (N, H, W, 3): uint8 RGB, or floats in [0, 1]");
  if (a.ndim() == 3) a = a.attr("reshape")(py::make_tuple(1, a.shape(0), a.shape(1), a.shape(2)));
  if (a.ndim() != 4 || a.shape(3) != 3 || a.shape(0) < 1 || a.shape(1) < 1 || a.shape(2) < 1)
    throw UsageError("images must have shape (N, H, W, 3) (RGB, channels last)");
  py::array_t<uint8_t, py::array::c_style> u;
  if (py::isinstance<py::array_t<uint8_t>>(a)) {
    u = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>::ensure(a);
  } else {
    auto f = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a);
    if (!f) throw UsageError("images must be uint8 (0-255) or floats in [0, 1]");
    const torch::Tensor t = torch::from_blob(const_cast<float*>(f.data()), {f.shape(0), f.shape(1), f.shape(2), 3}, torch::kFloat32);
    if (!torch::isfinite(t).all().item<bool>() || t.min().item<float>() < 0.0f || t.max().item<float>() > 1.0f)
      throw UsageError("float images must hold finite values in [0, 1] (or pass uint8 0-255)");
    const torch::Tensor q = (t * 255.0).round().to(torch::kUInt8).contiguous();
    u = py::array_t<uint8_t, py::array::c_style>({f.shape(0), f.shape(1), f.shape(2), py::ssize_t(3)});
    std::memcpy(u.mutable_data(), q.data_ptr<uint8_t>(), q.numel());
  }
  for (py::ssize_t i = 0; i < u.shape(0); ++i) {
    cv::Mat rgb(static_cast<int>(u.shape(1)), static_cast<int>(u.shape(2)), CV_8UC3,
                const_cast<uint8_t*>(u.data() + i * u.shape(1) * u.shape(2) * 3)),
        bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    xs.push_back(bgr_to_tensor(resize_center_crop(bgr, size), m.range_lo, m.range_hi));
  }
  return torch::stack(xs);
}

// The bundled model: $LATENTEDIT_MODEL, the install prefix's, else this source tree's.
std::string bundled_dir() {
  try {
    return default_bundle_dir("");
  } catch (const ModelError&) {
    const fs::path tree = fs::path(LATENTEDIT_SOURCE_DIR) / "pretrained" / "faces64";
    if (fs::exists(tree / "model.json")) return tree.string();
    throw;
  }
}

struct Model;

// An edit's result: the arrays at once; the report, grid and files (make_edit_outputs, the
// auditor's verdict) when first asked for.
struct Result {
  std::shared_ptr<const Models> m;
  EditSettings settings;
  EditResult r;
  json source;
  int threads = 0;
  std::optional<EditOutputs> outputs;

  const EditOutputs& out() {
    if (!outputs) {
      without_gil([&] {
        const Audit a = audit_edit(*m, settings.spec, r);
        OutputContext ctx;
        ctx.command = "edit";
        ctx.source = source;
        ctx.label = source_label(source);
        ctx.header = {{"threads", threads}, {"precision", to_string(m->precision)}};
        outputs = make_edit_outputs(*m, settings, r, a, ctx);
        outputs->report["timings"] = {{"edit_s", r.seconds}};
        return 0;
      });
    }
    return *outputs;
  }
};

struct Model {
  std::shared_ptr<Models> m;

  py::list attributes() const { return py::cast(m->attributes); }

  std::shared_ptr<Result> edit(const py::kwargs& kw) {
    py::dict d;
    py::object progress = py::none();
    for (auto [k, v] : kw) {
      const std::string key = py::str(k);
      if (key == "progress") progress = py::reinterpret_borrow<py::object>(v);
      else if (key == "latents" && py::isinstance<py::array>(v)) d[k] = py::array(py::reinterpret_borrow<py::object>(v)).attr("tolist")();
      else d[k] = v;
    }
    const json req = to_json(d);
    const BatchJob job = read_edit_request(req, *m, {});
    auto res = std::make_shared<Result>();
    res->m = m;
    res->settings = job.settings;
    res->source = job.source;
    res->threads = at::get_num_threads();
    res->r = without_gil([&] {
      return latentedit::edit(*m, job.z, job.settings.spec, [&](const EditProgress& p) {
        check_in(progress, [&] {
          py::dict q;
          q["step"] = p.step, q["steps"] = p.steps, q["active"] = p.active, q["pass"] = p.pass, q["passes"] = p.passes;
          q["mean_target_prob"] = p.mean_target_prob;
          return q;
        });
      });
    });
    if (edit_diverged(res->r)) throw UsageError(std::string(kDivergedHint) + " (step_size)");
    return res;
  }

  py::array_t<float> score(const py::object& images) {
    const torch::Tensor x = images_from(images, *m);
    const torch::Tensor logits = without_gil([&] { return classify(m->classifier, x); });
    if (!torch::isfinite(logits).all().item<bool>())
      throw ModelError(m->classifier.source + ": the classifier produced NaN or infinite scores; check its weights");
    return to_float(torch::sigmoid(logits));
  }

  py::array_t<float> latents(uint64_t seed, int64_t count) const {
    if (count < 1 || count > 4096) throw UsageError("count must be 1 to 4096");
    return to_float(sample_latents(seed, count, m->z_dim));
  }

  py::array_t<uint8_t> generate(const py::object& z) {
    const torch::Tensor t = latents_from(z, m->z_dim, "z");
    if (!torch::isfinite(t).all().item<bool>()) throw UsageError("z holds NaN or infinite values");
    return to_uint8(without_gil([&] { return latentedit::generate(*m, t); }), m->range_lo, m->range_hi);
  }

  py::array_t<uint8_t> sample(uint64_t seed, int64_t count) {
    if (count < 1 || count > 4096) throw UsageError("count must be 1 to 4096");
    const torch::Tensor z = sample_latents(seed, count, m->z_dim);
    return to_uint8(without_gil([&] { return latentedit::generate(*m, z); }), m->range_lo, m->range_hi);
  }

  py::dict invert(const py::object& images, const py::kwargs& kw) {
    const torch::Tensor x = images_from(images, *m);
    InvertOptions o;
    py::object progress = py::none();
    for (auto [k, v] : kw) {
      const std::string key = py::str(k);
      if (key == "progress") progress = py::reinterpret_borrow<py::object>(v);
      else if (key == "steps") o.steps = v.cast<int>();
      else if (key == "restarts") o.restarts = v.cast<int>();
      else if (key == "candidates") o.candidates = v.cast<int>();
      else if (key == "seed") o.seed = v.cast<uint64_t>();
      else if (key == "perceptual") o.perceptual = v.cast<double>();
      else throw UsageError("invert: unknown option " + key + " (steps, restarts, candidates, seed, perceptual, progress)");
    }
    if (!m->classifier.features) o.perceptual = 0;
    validate(o);
    const InvertResult r = without_gil([&] {
      return latentedit::invert(*m, x, o, [&](const InvertProgress& p) {
        check_in(progress, [&] {
          py::dict q;
          q["step"] = p.step, q["steps"] = p.steps, q["done"] = p.done, q["total"] = p.total, q["mean_psnr"] = p.mean_psnr;
          return q;
        });
      });
    });
    py::dict out;
    out["z"] = to_float(r.z);
    out["reconstruction"] = to_uint8(r.reconstruction, m->range_lo, m->range_hi);
    out["psnr"] = r.psnr;
    std::vector<std::string> names;
    for (int64_t i = 0; i < r.z.size(0); ++i) names.push_back("image " + std::to_string(i));
    out["warnings"] = inversion_warnings(*m, r, names);
    return out;
  }
};

std::shared_ptr<Model> load(const std::optional<std::string>& path, const std::optional<std::string>& generator,
                            const std::optional<std::string>& classifier, const std::string& precision) {
  auto md = std::make_shared<Model>();
  if (generator || classifier) {
    if (path) throw UsageError("give a bundle directory or generator= and classifier=, not both");
    if (!generator || !classifier) throw UsageError("give both generator= and classifier= (weight files), or a bundle directory");
    md->m = std::make_shared<Models>(without_gil([&] { return load_from_files(*generator, *classifier); }));
  } else {
    const std::string dir = path ? *path : bundled_dir();
    md->m = std::make_shared<Models>(without_gil([&] { return load_bundle(dir); }));
  }
  const Precision p = parse_precision(precision);
  if (p != Precision::kFp32) set_precision(*md->m, p);
  return md;
}

}  // namespace

PYBIND11_MODULE(latentedit, mod) {
  mod.doc() = "latentedit: edit a GAN's latents toward or away from classifier attributes (numpy in and out)";
  mod.attr("__version__") = LATENTEDIT_VERSION;
  // As the CLI does: OpenBLAS's kernels for CPUs newer than Debian's OpenBLAS, and torch's threads
  // ($OMP_NUM_THREADS or every core) with OpenBLAS kept to one thread when torch uses several.
  set_threads(0);
  // And glibc's allocator as the CLI tunes it (tune_allocator): without it the edit's large
  // buffers are mmap'd and unmapped every step, and a 64 x 10 edit took 1.3-1.5x the CLI's time
  // (bench/python_overhead.py). Left alone when the user set GLIBC_TUNABLES or a MALLOC_*_ variable.
  tune_allocator();
  model_error = py::exception<ModelError>(mod, "ModelError", PyExc_Exception);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const BatchInvalid& e) {
      PyErr_SetString(PyExc_ValueError, first_error(e).c_str());
    } catch (const Error& e) {
      const std::string msg = with_remedy(e);
      switch (e.kind()) {
        case ErrorKind::kModel: PyErr_SetString(model_error.ptr(), msg.c_str()); break;
        case ErrorKind::kIo: PyErr_SetString(PyExc_OSError, msg.c_str()); break;
        default: PyErr_SetString(PyExc_ValueError, msg.c_str());
      }
    }
  });

  mod.def("load", &load, py::arg("path") = py::none(), py::kw_only(), py::arg("generator") = py::none(),
          py::arg("classifier") = py::none(), py::arg("precision") = "fp32",
          "Load a bundle directory (default: the bundled model), or generator= and classifier= weight files "
          "(.pth, .safetensors, TorchScript). precision: 'fp32' or 'bf16' (CPUs with AVX-512 BF16).");
  mod.def("set_threads", [](int n) {
    if (n < 1 || n > 1024) throw UsageError("threads must be 1 to 1024");
    set_threads(n);
  }, py::arg("n"), "Threads for every later call (torch's intra-op threads, as --threads; the default is $OMP_NUM_THREADS or the core count)");
  mod.def("get_threads", [] { return at::get_num_threads(); });

  py::class_<Model, std::shared_ptr<Model>>(mod, "Model")
      .def_property_readonly("attributes", &Model::attributes, "The attribute names, in the classifier's order")
      .def_property_readonly("z_dim", [](const Model& s) { return s.m->z_dim; })
      .def_property_readonly("image_size", [](const Model& s) { return s.m->image_size; })
      .def_property_readonly("name", [](const Model& s) { return s.m->name; })
      .def_property_readonly("dir", [](const Model& s) { return s.m->dir; })
      .def("edit", &Model::edit,
           "Edit latents: any key of a batch job / POST /edit as a keyword (add, remove, seed, count, seeds, latents "
           "(an (N, z_dim) array), steps, method, ...), plus progress=callable(dict). Returns an EditResult.")
      .def("score", &Model::score, py::arg("images"),
           "Attribute probabilities (N, C) float32 of images: paths, or an (N, H, W, 3) array (uint8 RGB or floats in [0, 1])")
      .def("latents", &Model::latents, py::arg("seed") = 0, py::arg("count") = 1,
           "The latents (count, z_dim) float32 of a seed: torch.manual_seed(seed); torch.randn(count, z_dim)")
      .def("generate", &Model::generate, py::arg("z"), "Images (N, H, W, 3) uint8 RGB of latents (N, z_dim)")
      .def("sample", &Model::sample, py::arg("seed") = 0, py::arg("count") = 1, "generate(latents(seed, count))")
      .def("invert", &Model::invert, py::arg("images"),
           "Find latents whose images match photos: {'z': (N, z_dim), 'reconstruction': (N, H, W, 3) uint8, 'psnr': [dB], "
           "'warnings': [...]}. Options: steps, restarts, candidates, seed, perceptual, progress.")
      .def("__repr__", [](const Model& s) {
        return "<latentedit.Model " + s.m->name + ", z_dim " + std::to_string(s.m->z_dim) + ", " +
               std::to_string(s.m->attributes.size()) + " attributes>";
      });

  py::class_<Result, std::shared_ptr<Result>>(mod, "EditResult")
      .def_property_readonly("before", [](const Result& r) { return to_uint8(r.r.images.at(0), r.m->range_lo, r.m->range_hi); },
                             "(N, H, W, 3) uint8 RGB: the images before the edit")
      .def_property_readonly("after", [](const Result& r) {
        return to_uint8(r.r.images.rbegin()->second, r.m->range_lo, r.m->range_hi);
      }, "(N, H, W, 3) uint8 RGB: the images after the edit")
      .def_property_readonly("z_before", [](const Result& r) { return to_float(r.r.z_before); }, "(N, z_dim) float32")
      .def_property_readonly("z_after", [](const Result& r) { return to_float(r.r.z_after); }, "(N, z_dim) float32")
      .def_property_readonly("probs", [](const Result& r) { return to_float(r.r.probs); },
                             "(steps + 1, N, C) float32: every attribute's probability after each step")
      .def_property_readonly("report", [](Result& r) { return to_python(r.out().report); }, "The report, as report.json holds it")
      .def("grid", [](Result& r) {
        for (const auto& [name, bytes] : r.out().images)
          if (name == "grid.png") {
            const std::vector<uint8_t> buf(bytes.begin(), bytes.end());
            cv::Mat bgr = cv::imdecode(buf, cv::IMREAD_COLOR), rgb;
            cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
            py::array_t<uint8_t> a({rgb.rows, rgb.cols, 3});
            std::memcpy(a.mutable_data(), rgb.data, rgb.total() * 3);
            return a;
          }
        throw UsageError("this edit has no grid (outputs.grid is false)");
      }, "The before/after grid as an (H, W, 3) uint8 RGB image")
      .def("save", [](Result& r, const std::string& out, bool force) {
        const EditOutputs& o = r.out();
        std::vector<std::string> names;
        StagedDir staged(out, "edit", force);
        for (const auto& [name, bytes] : o.files()) staged.add(name, bytes), names.push_back(name);
        staged.commit();
        return names;
      }, py::arg("out"), py::arg("force") = false,
           "Write the edit's files (what `latentedit edit --out OUT` writes) into OUT, atomically; returns their names");
}
