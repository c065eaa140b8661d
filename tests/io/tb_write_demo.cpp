// tb_write_demo DIR: writes a fixed set of scalars with io::tensorboard_writer into DIR and
// prints what it wrote, one value a line, for tensorboard_readback.py to compare with what
// TensorBoard reads:  file PATH  then  event<TAB>step<TAB>wall_time<TAB>tag<TAB>float32 bits (hex)
#include <dsae/io/tensorboard.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace {

class demo {
 public:
  explicit demo(const char* dir) : m_tb(dir) { std::printf("file\t%s\n", m_tb.path().c_str()); }

  void event(std::int64_t step, const std::vector<std::pair<std::string, double>>& values) {
    const double wall = 1.7e9 + 0.25 * double(m_events);  // exact in a double, distinct per event
    m_tb.scalars(step, values, wall);
    for (const auto& [tag, v] : values)
      std::printf("%d\t%lld\t%.17g\t%s\t%08x\n", m_events, static_cast<long long>(step), wall, tag.c_str(),
                  std::bit_cast<std::uint32_t>(static_cast<float>(v)));
    ++m_events;
  }
  void flush() { m_tb.flush(); }

 private:
  dsae::io::tensorboard_writer m_tb;
  int m_events = 1;  // event 0 is the writer's file_version record
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: tb_write_demo DIR\n");
    return 2;
  }
  try {
    demo d(argv[1]);
    const double inf = std::numeric_limits<double>::infinity();
    // A step far ahead first: with file_version "brain.Event:2" TensorBoard keeps the
    // smaller steps that follow (an older or missing version would purge them).
    d.event(std::int64_t(1) << 40, {{"big_step", 0.125}});
    // Enough single-value events to pass the 64 KiB buffer a few times.
    for (int s = 0; s < 3000; ++s) {
      d.event(s, {{"loss/train", 1.0 / (1.0 + s)}});
      if (s % 100 == 0)
        d.event(s, {{"loss/val", 2.0 / (3.0 + s)}, {"f1/pitch", 0.001 * s}, {"f1/rhythm", -0.5 + 1e-4 * s}});
      if (s == 1500) d.flush();
    }
    d.event(3000, {{"m\xc3\xa9trique/\xce\xb2", 3.14159265358979}, {std::string(200, 'L'), 42.0}});
    d.event(3001, {{"special/nan", std::nan("")}, {"special/inf", inf}, {"special/-inf", -inf},
                   {"special/denormal", 1e-45}, {"special/neg_zero", -0.0}, {"special/beyond_float", 1e300},
                   {"special/rounded", 0.1}});
    // The rest is written by the destructor.
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tb_write_demo: %s\n", e.what());
    return 1;
  }
  return 0;
}
