// config.json (model/config.h): the model description of a Hugging Face directory, then the
// tensor shapes the engine derives from it (model/weights.h), as a model load does before it
// opens any tensor. Seeds: the config.json of every model under tests/models.
#include "fuzz_util.h"
#include "model/config.h"
#include "model/weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = hs::fuzz::write_file("config.json", data, size);
  hs::fuzz::expect_clean_error(
      [&] {
        const hs::ModelConfig c = hs::load_model_config(hs::fuzz::scratch_dir());
        for (const auto& parts : {hs::global_parts(c), hs::layer_parts(c, 0)})
          for (const hs::PartSpec& s : parts)
            if (s.numel() <= 0) hs::fuzz::finding("a config was accepted with an empty " + s.name);
      },
      "config.json");
  return 0;
}
