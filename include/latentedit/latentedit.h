// latentedit — controllable generation with GANs: move a generator's latent z so that a
// classifier's chosen attributes rise (or fall) while the others stay put (the DeepLearning.AI
// GAN course's C1W4 method, generalised). This header includes the whole public API.
//
//   #include <latentedit/latentedit.h>
//   using namespace latentedit;
//   Models m = load_bundle("pretrained/faces64");                        // bundle.h
//   EditSettings s = EditSettings::from_json({{"add", {"Smiling"}}}, m.attributes);  // spec.h
//   EditResult r = edit(m, sample_latents(7, 8, m.z_dim), s.spec);        // editor.h
//   Audit a = audit_edit(m, s.spec, r);                                   // outputs.h
//   for (auto& [name, bytes] : make_edit_outputs(m, s, r, a, {}).files()) { /* write them */ }
//
// The public headers, in the order data flows through them:
//   spec.h        EditSpec / EditSettings: the one edit specification, its defaults, JSON form, validation
//   bundle.h      Models: generator, editing classifier, auditor; bundles, .pth / TorchScript files;
//                 set_precision (bfloat16 on CPUs with AVX-512 BF16 / AMX)
//   editor.h      edit(): the gradient editor; sample_latents, generate, classify
//   outputs.h     audit_edit, attribute_drift, make_edit_outputs: an edit's report, grid and images
//   invert.h      invert(): find z with G(z) close to a photo (then edit it)
//   batch.h       JSON job files: validation, plan, resumable/sharded runner, summary, schema
//   directions.h  fitting InterFaceGAN boundaries in z and attribute correlations (boundary method, keep mask)
//   evaluate.h    auditor-judged success / drift / fooled curves, the success-drift plot
//   attributes.h  the 40 CelebA attribute names and forgiving look-up
//   models.h      the course's Generator and Classifier modules (PyTorch state_dict names)
//   safetensors.h reading and writing .safetensors weights
//   image.h       image conversion, the course's preprocessing, PNG encoding, grids
//   dataset.h     procedural faces and CelebA-layout datasets
//   errors.h      the typed errors every function throws
//   train.h       training: classifiers, GANs (losses, D steps, R1, collapse diagnostics), a run's directory
//                 (library latentedit::train)
//   train_report.h  a GAN training log drawn as one picture (library latentedit::train)
#pragma once

#include "latentedit/attributes.h"
#include "latentedit/batch.h"
#include "latentedit/bundle.h"
#include "latentedit/dataset.h"
#include "latentedit/directions.h"
#include "latentedit/editor.h"
#include "latentedit/errors.h"
#include "latentedit/evaluate.h"
#include "latentedit/image.h"
#include "latentedit/invert.h"
#include "latentedit/models.h"
#include "latentedit/outputs.h"
#include "latentedit/safetensors.h"
#include "latentedit/spec.h"
