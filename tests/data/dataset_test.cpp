// The dataset format: writer, loader, validation, overwrite protection.
#include <boost/test/unit_test.hpp>

#include <dsae/data/dataset.hpp>

#include "common.hpp"

namespace dd = dsae::data;
namespace fs = std::filesystem;

namespace {
std::map<std::string, xt::xtensor<float, 3>> small_features() {
  std::map<std::string, xt::xtensor<float, 3>> f;
  f["train"] = xt::zeros<float>({std::size_t(3), std::size_t(4), std::size_t(2)});
  f["val"] = xt::zeros<float>({std::size_t(1), std::size_t(4), std::size_t(2)});
  for (std::size_t i = 0; i < f["train"].size(); ++i) f["train"].data()[i] = float(i);
  f["val"].fill(-7.f);
  return f;
}
nlohmann::json small_items() {
  auto item = [](const char* split, const char* ins, int row) {
    nlohmann::json fac = nlohmann::json::object();
    for (std::size_t k = 0; k < 9; ++k) fac[dd::dmelodies_factor_names[k]] = int(k) % 2;
    return nlohmann::json{{"split", split}, {"instrument", ins}, {"row", row}, {"factors", fac},
                          {"pitches", {60, -1, 64}}};
  };
  return nlohmann::json::array({item("train", "violin", 10), item("val", "trumpet", 11),
                                item("train", "trumpet", 12), item("train", "violin", 13)});
}
std::string error_of(const fs::path& dir) {
  try {
    dd::load_dataset(dir);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

BOOST_AUTO_TEST_SUITE(dataset_format)

BOOST_AUTO_TEST_CASE(write_then_load) {
  dsae_test::temp_dir tmp("ds_rt");
  dd::prepare_output_dir(tmp.path / "d", false);
  dd::write_dataset(tmp.path / "d", {{"dataset", "toy"}, {"instruments", {"violin", "trumpet"}}},
                    small_features(), small_items());
  BOOST_TEST(dd::holds_dataset(tmp.path / "d"));
  const auto ds = dd::load_dataset(tmp.path / "d");
  BOOST_TEST(ds.manifest["dataset"] == "toy");
  BOOST_TEST(ds.train().features.shape(0) == 3u);
  BOOST_TEST(ds.val().features(0, 3, 1) == -7.f);
  BOOST_TEST(ds.train().features(2, 3, 1) == 23.f);
  // Items keep their order within a split; index is the row in features.npy.
  BOOST_TEST(ds.train().labels[0].row == 10);
  BOOST_TEST(ds.train().labels[1].row == 12);
  BOOST_TEST(ds.train().labels[2].row == 13);
  BOOST_TEST(ds.val().labels[0].row == 11);
  const auto ids = ds.train().instrument_ids();
  BOOST_TEST(ids(0) == 0);
  BOOST_TEST(ids(1) == 1);
  BOOST_TEST(ds.train().factor_matrix()(0, 3) == 1);
  BOOST_TEST(ds.train().labels[0].pitches == std::vector<int>({60, -1, 64}));
  BOOST_TEST(!ds.has("test"));
  BOOST_CHECK_THROW(ds.split("test"), std::out_of_range);
  // The manifest is plain JSON readable without the library.
  const auto j = nlohmann::json::parse(dsae_test::slurp(tmp.path / "d" / "manifest.json"));
  BOOST_TEST(j["splits"]["train"]["shape"] == nlohmann::json({3, 4, 2}));
  BOOST_TEST(j["items"].size() == 4u);
}

BOOST_AUTO_TEST_CASE(empty_split_round_trips) {
  // URMP's small instruments can leave a split empty: 0 x T x F is a valid array.
  dsae_test::temp_dir tmp("ds_empty");
  auto f = small_features();
  f["test"] = xt::zeros<float>({std::size_t(0), std::size_t(4), std::size_t(2)});
  dd::write_dataset(tmp.path, {{"instruments", {"violin", "trumpet"}}}, f, small_items());
  const auto ds = dd::load_dataset(tmp.path);
  BOOST_TEST(ds.split("test").features.shape(0) == 0u);
  BOOST_TEST(ds.split("test").features.shape(1) == 4u);
  BOOST_TEST(ds.split("test").labels.empty());
}

BOOST_AUTO_TEST_CASE(refuses_to_overwrite_without_flag) {
  dsae_test::temp_dir tmp("ds_ow");
  dd::write_dataset(tmp.path, {{"instruments", {"violin", "trumpet"}}}, small_features(), small_items());
  try {
    dd::prepare_output_dir(tmp.path, false);
    BOOST_FAIL("no exception");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).find("--overwrite") != std::string::npos);
    BOOST_TEST(std::string(e.what()).find(tmp.path.string()) != std::string::npos);
  }
  BOOST_TEST(fs::exists(tmp.path / "manifest.json"));
  dd::prepare_output_dir(tmp.path, true);  // accepted; replacing is dataset_output's job
  BOOST_TEST(dd::holds_dataset(tmp.path));
}

// Issue 19 items 3 and 4: the old dataset stays until the new one is complete, the folder is
// locked while built, and a folder that is not a dataset is never replaced.
BOOST_AUTO_TEST_CASE(output_is_built_beside_and_swapped_in) {
  dsae_test::temp_dir tmp("ds_swap");
  const fs::path d = tmp.path / "d";
  {
    dd::dataset_output out(d, false);
    dd::write_dataset(out.build_dir(), {{"instruments", {"violin", "trumpet"}}}, small_features(), small_items());
    out.commit();
  }
  const std::string first = dsae_test::slurp(d / "manifest.json");
  {
    dd::dataset_output out(d, true);
    BOOST_CHECK_THROW(dd::dataset_output(d, true), std::runtime_error);  // locked: one writer
    dd::write_dataset(out.build_dir(), {{"instruments", {"violin", "trumpet"}}, {"v", 2}}, small_features(),
                      small_items());
    BOOST_TEST(dsae_test::slurp(d / "manifest.json") == first);  // failure before commit: old kept
  }
  BOOST_TEST(dsae_test::slurp(d / "manifest.json") == first);
  for (const auto& e : fs::directory_iterator(tmp.path))
    BOOST_TEST(e.path().filename().string().find("dsae-build") == std::string::npos);  // no litter
  {
    dd::dataset_output out(d, true);
    dd::write_dataset(out.build_dir(), {{"instruments", {"violin", "trumpet"}}, {"v", 2}}, small_features(),
                      small_items());
    out.commit();
  }
  BOOST_TEST(dd::load_dataset(d).manifest["v"] == 2);
  // Another tool's folder: refused even with overwrite, nothing removed.
  fs::create_directories(tmp.path / "mine" / "train");
  dsae_test::spit(tmp.path / "mine" / "notes.txt", "mine");
  BOOST_CHECK_THROW(dd::dataset_output(tmp.path / "mine", true), std::runtime_error);
  BOOST_TEST(dsae_test::slurp(tmp.path / "mine" / "notes.txt") == "mine");
}

BOOST_AUTO_TEST_CASE(validation_errors_name_the_file) {
  dsae_test::temp_dir tmp("ds_bad");
  const fs::path d = tmp.path;
  // Missing manifest.
  auto e = error_of(d);
  BOOST_TEST(e.find((d / "manifest.json").string()) != std::string::npos);
  dd::write_dataset(d, {{"instruments", {"violin", "trumpet"}}}, small_features(), small_items());
  BOOST_TEST(error_of(d).empty());
  // Missing features file.
  fs::rename(d / "val" / "features.npy", d / "val" / "moved.npy");
  e = error_of(d);
  BOOST_TEST(e.find((d / "val" / "features.npy").string()) != std::string::npos);
  // Features with a row count that disagrees with the manifest.
  auto f = small_features();
  f["val"] = xt::zeros<float>({std::size_t(2), std::size_t(4), std::size_t(2)});
  dd::save_npy<3>((d / "val" / "features.npy").string(), f["val"]);
  e = error_of(d);
  BOOST_TEST(e.find("val/features.npy") != std::string::npos);
  BOOST_TEST(e.find("manifest says 1") != std::string::npos);
  // Frames x bins differing between splits.
  f["val"] = xt::zeros<float>({std::size_t(1), std::size_t(5), std::size_t(2)});
  dd::save_npy<3>((d / "val" / "features.npy").string(), f["val"]);
  e = error_of(d);
  BOOST_TEST(e.find("differ from the other splits") != std::string::npos);
  // Corrupt manifest.
  dsae_test::spit(d / "manifest.json", "{ not json");
  e = error_of(d);
  BOOST_TEST(e.find("manifest.json") != std::string::npos);
  BOOST_TEST(e.find("not valid JSON") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(writer_checks_items_against_features) {
  dsae_test::temp_dir tmp("ds_w");
  auto items = small_items();
  items.erase(items.begin());  // train now has 2 items for 3 rows
  BOOST_CHECK_THROW(dd::write_dataset(tmp.path, {}, small_features(), items), std::invalid_argument);
  items = small_items();
  items[0]["split"] = "test";
  BOOST_CHECK_THROW(dd::write_dataset(tmp.path, {}, small_features(), items), std::invalid_argument);
}


BOOST_AUTO_TEST_CASE(duplicate_item_indices_are_rejected) {
  // Issue 13 item 7: two items claiming the same row left one row's labels at their
  // defaults (and the other row's overwritten) without an error.
  dsae_test::temp_dir tmp("ds_dup");
  const fs::path d = tmp.path;
  dd::write_dataset(d, {{"instruments", {"violin", "trumpet"}}}, small_features(), small_items());
  BOOST_REQUIRE(error_of(d).empty());
  auto m = nlohmann::json::parse(dsae_test::slurp(d / "manifest.json"));
  int n = 0;
  for (auto& it : m["items"])
    if (it["split"] == "train" && n++ == 1) it["index"] = 0;  // second train item claims row 0 too
  dsae_test::spit(d / "manifest.json", m.dump());
  const auto e = error_of(d);
  BOOST_TEST(e.find((d / "manifest.json").string()) != std::string::npos, e);
  BOOST_TEST(e.find("both claim index 0 of split 'train'") != std::string::npos, e);
}

BOOST_AUTO_TEST_CASE(manifest_is_written_atomically) {
  dsae_test::temp_dir tmp("ds_atomic");
  dd::write_dataset(tmp.path, {{"instruments", {"violin", "trumpet"}}}, small_features(), small_items());
  BOOST_TEST(!fs::exists(tmp.path / "manifest.json.tmp"));
  BOOST_TEST(!fs::exists(tmp.path / "train" / "features.npy.tmp"));
  BOOST_TEST(dd::load_dataset(tmp.path).train().labels[2].row == 13);
}

BOOST_AUTO_TEST_SUITE_END()
