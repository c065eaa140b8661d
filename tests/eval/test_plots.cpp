// examples/dmelodies/plots.py on a small synthetic results.csv and .npy spectrograms:
// the figures get written as non-empty PNGs and summary.csv holds the right medians.
#include <boost/test/unit_test.hpp>

#include "peer.hpp"
#include <dsae/model/registry.hpp>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace dsae_test;

namespace {

fs::path plots_script() { return source_dir() / "examples" / "dmelodies" / "plots.py"; }

int run_plots(const std::string& args, const fs::path& log) {
  std::ostringstream os;
  os << '"' << python() << "\" \"" << plots_script().string() << "\" " << args << " > \""
     << log.string() << "\" 2>&1";
  return std::system(os.str().c_str());
}

bool is_png(const fs::path& p) {
  if (!fs::exists(p) || fs::file_size(p) < 1000) return false;
  std::ifstream is(p, std::ios::binary);
  char magic[8] = {};
  is.read(magic, 8);
  return std::memcmp(magic, "\x89PNG\r\n\x1a\n", 8) == 0;
}

// Minimal .npy (version 1.0) writer for a C-order float32 T x F array.
void write_npy(const fs::path& p, const Eigen::MatrixXf& a) {
  std::ostringstream h;
  h << "{'descr': '<f4', 'fortran_order': False, 'shape': (" << a.rows() << ", " << a.cols()
    << "), }";
  std::string header = h.str();
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::ofstream os(p, std::ios::binary);
  os.write("\x93NUMPY\x01\x00", 8);
  const auto len = static_cast<std::uint16_t>(header.size());
  const char le[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  os.write(le, 2);
  os.write(header.data(), static_cast<std::streamsize>(header.size()));
  const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> r = a;
  os.write(reinterpret_cast<const char*>(r.data()), static_cast<std::streamsize>(r.size() * 4));
}

std::string read_text(const fs::path& p) {
  std::ifstream is(p);
  std::stringstream ss;
  ss << is.rdbuf();
  return ss.str();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(plots_suite, *boost::unit_test::precondition(peer_available{"matplotlib, numpy"}))

BOOST_AUTO_TEST_CASE(results_figures_are_written) {
  scratch_dir dir("plots");
  const char* methods[4] = {"dsae", "dsae-f", "ts-dsae-noreg", "ts-dsae"};
  {
    std::ofstream os(dir / "results.csv");
    os << "run_id,method,q,z,seed,f1_pre,f1_global,f1_local,recon_mse,frechet,rpa_pre,rpa_global,rpa_local\n";
    int id = 0;
    for (int m = 0; m < 4; ++m)
      for (int z : {8, 16, 32})
        for (int seed = 0; seed < 3; ++seed) {
          // dsae: post-swap F1 = 0.05 + 0.01 seed (median 0.06); others rise with the method.
          const double g = m == 0 ? 0.05 + 0.01 * seed : 0.3 * m + 0.02 * seed;
          os << "r" << id++ << "," << methods[m] << ",factorised," << z << "," << seed << ",1.0," << g
             << "," << g * 0.9 << "," << 0.01 + 0.001 * m << "," << (seed == 0 ? "" : "0.5") << ","
             << 0.9 << "," << 0.8 * g << "," << 0.7 << "\n";
        }
    for (int m = 0; m < 4; ++m)  // a second encoder variant at Z = 16 for Fig. 6
      os << "f" << m << "," << methods[m] << ",full,16,0,1.0,0.5,0.5,0.02,,,,\n";
  }
  {
    // The method registry beside the CSV, as dsae-experiment writes it (dsae-train --list-methods).
    std::ofstream os(dir / "methods.json");
    os << dsae::model::methods_json() << "\n";
  }
  const fs::path out = dir / "figs";
  const int rc = run_plots("results --csv \"" + (dir / "results.csv").string() + "\" --out \"" +
                               out.string() + "\" --title synthetic",
                           dir / "log.txt");
  BOOST_REQUIRE_MESSAGE(rc == 0, "plots.py results failed:\n" << read_text(dir / "log.txt"));
  for (const char* f : {"fig3_f1.png", "fig4_recon_vs_f1.png", "fig5_rpa.png", "fig6_q.png"})
    BOOST_TEST(is_png(out / f), f);
  const std::string summary = read_text(out / "summary.csv");
  BOOST_TEST(summary.find("factorised,dsae,8,3,1,0.06,0.054,") != std::string::npos, summary);
  BOOST_TEST(summary.find("full,ts-dsae,16,1,1,0.5,0.5,0.02,") != std::string::npos, summary);
}

BOOST_AUTO_TEST_CASE(rpa_figure_only_with_rpa_columns_and_bad_csv_fails) {
  scratch_dir dir("plots_norpa");
  {
    std::ofstream os(dir / "results.csv");
    os << "run_id,method,q,z,seed,f1_pre,f1_global,f1_local,recon_mse,frechet\n";
    os << "a,dsae,factorised,8,0,1,0.1,0.1,0.02,\n"
       << "b,ts-dsae,factorised,8,0,1,1,1,0.02,\n"
       << "c,ts-dsae,factorised,16,1,1,0.9,1,0.03,\n";
  }
  const fs::path out = dir / "figs";
  const int rc = run_plots("results --csv \"" + (dir / "results.csv").string() + "\" --out \"" +
                               out.string() + "\"",
                           dir / "log.txt");
  BOOST_REQUIRE_MESSAGE(rc == 0, "plots.py results failed:\n" << read_text(dir / "log.txt"));
  BOOST_TEST(is_png(out / "fig3_f1.png"));
  BOOST_TEST(is_png(out / "fig4_recon_vs_f1.png"));
  BOOST_TEST(!fs::exists(out / "fig5_rpa.png"));
  BOOST_TEST(!fs::exists(out / "fig6_q.png"));

  {
    std::ofstream os(dir / "bad.csv");
    os << "run_id,method,z,seed\na,dsae,8,0\n";
  }
  const int bad = run_plots("results --csv \"" + (dir / "bad.csv").string() + "\" --out \"" +
                                out.string() + "\"",
                            dir / "bad_log.txt");
  BOOST_TEST(bad != 0);
  BOOST_TEST(read_text(dir / "bad_log.txt").find("missing column") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(spectrogram_grid_is_written) {
  scratch_dir dir("plots_spec");
  normal_rng g(4);
  std::string npys;
  for (int k = 0; k < 4; ++k) {
    const fs::path p = dir / (std::string("s").append(std::to_string(k)).append(".npy"));
    write_npy(p, g.normal(32, 16).cast<float>());  // T = 32 frames, F = 16 mel bins
    npys.append(" \"").append(p.string()).append("\"");
  }
  const fs::path png = dir / "fig7.png";
  const int rc = run_plots("spectrograms --npy" + npys +
                               " --titles source \"target 1\" \"target 2\" \"target 3\" --out \"" +
                               png.string() + "\"",
                           dir / "log.txt");
  BOOST_REQUIRE_MESSAGE(rc == 0, "plots.py spectrograms failed:\n" << read_text(dir / "log.txt"));
  BOOST_TEST(is_png(png));
}

BOOST_AUTO_TEST_SUITE_END()
