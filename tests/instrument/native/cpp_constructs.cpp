// The constructs a C++ instrumenter must leave working. Every function with a body is
// instrumented (an RAII guard: exceptions leave through its destructor) except constexpr and
// consteval functions and coroutines, which are listed as not instrumented.
// expect-calls: geo::Shape::Shape=2 geo::Shape::~Shape=2 geo::Circle::Circle=1 geo::Circle::area=2 geo::Square::Square=1 geo::Square::area=2 geo::Circle::~Circle=1 geo::Square::~Square=1 geo::total=1 maximum=3 Counter::operator()=3 'Counter::operator bool=1' Counter::Counter=1 risky=3 guarded=3 with_lambda=1 Matrix::get=4 Matrix::Matrix=1 main=1 geo::Shape::name=2 make_vector=1 Gen::~Gen=1 Gen::promise_type::yield_value=3 Gen::promise_type::get_return_object=1 Gen::promise_type::initial_suspend=1 Gen::promise_type::final_suspend=1 Gen::promise_type::return_void=1
// expect-skipped: square_ce cube_ce counter_gen
// expect-unbalanced: 0
// cflags: -std=c++20 -Wall -Wextra -Werror -Wshadow -O1
#include <coroutine>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace geo {
class Shape {
public:
  explicit Shape(std::string n) : name_(std::move(n)) {}
  virtual ~Shape() {}
  virtual double area() const = 0;
  const std::string &name() const { return name_; }

private:
  std::string name_;
};

class Circle : public Shape {
public:
  explicit Circle(double r) : Shape("circle"), r_(r) {}
  ~Circle() override {}
  double area() const override;

private:
  double r_;
};

double Circle::area() const { return 3.0 * r_ * r_; }

struct Square : Shape {
  explicit Square(double s) : Shape("square"), s_(s) {}
  ~Square() override {}
  double area() const override { return s_ * s_; }
  double s_;
};

double total(const std::vector<std::unique_ptr<Shape>> &v) {
  double t = 0;
  for (const auto &s : v) {
    t += s->area();
  }
  return t;
}
} // namespace geo

template <typename T> T maximum(T a, T b) { return a < b ? b : a; }

constexpr int square_ce(int x) { return x * x; }
consteval int cube_ce(int x) { return x * x * x; }
static_assert(square_ce(3) == 9, "constexpr still works at compile time");

struct Counter {
  int n = 0;
  Counter() : n(0) {}
  int operator()(int k) { return n += k; }
  explicit operator bool() const { return n != 0; }
};

static int risky(int x) {
  if (x > 1) {
    throw std::runtime_error("too big: " + std::to_string(x));
  }
  return x;
}

static int guarded(int x) {
  try {
    return risky(x);
  } catch (const std::exception &e) {
    std::printf("caught %s\n", e.what());
    return -1;
  }
}

static int with_lambda(const std::vector<int> &v) {
  int sum = 0;
  auto add = [&sum](int x) { sum += x; }; // lambdas stay as they are
  for (int x : v) {
    add(x);
  }
  return sum;
}

template <int N> struct Matrix {
  int cells[N * N];
  Matrix() {
    for (int i = 0; i < N * N; i++) {
      cells[i] = i;
    }
  }
  int get(int r, int c) const { return cells[r * N + c]; }
};

struct Gen {
  struct promise_type {
    int value = 0;
    Gen get_return_object() { return Gen{std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    std::suspend_always yield_value(int v) noexcept {
      value = v;
      return {};
    }
    void return_void() noexcept {}
    void unhandled_exception() { throw; }
  };
  std::coroutine_handle<promise_type> h;
  ~Gen() {
    if (h) {
      h.destroy();
    }
  }
};

static Gen counter_gen(int n) {
  for (int i = 0; i < n; i++) {
    co_yield i;
  }
}

static std::vector<int> make_vector() { return {1, 2, 3}; }

int main() {
  std::vector<std::unique_ptr<geo::Shape>> shapes;
  shapes.push_back(std::make_unique<geo::Circle>(1.0));
  shapes.push_back(std::make_unique<geo::Square>(2.0));
  std::printf("total %.1f\n", geo::total(shapes));
  for (const auto &s : shapes) {
    std::printf("%s %.1f\n", s->name().c_str(), s->area());
  }
  std::printf("max %d %.1f %d\n", maximum(1, 2), maximum(1.5, 0.5), maximum('a', 'b'));
  std::printf("ce %d %d\n", square_ce(4), cube_ce(2));
  Counter c;
  c(1);
  c(2);
  std::printf("counter %d %d\n", c(3), static_cast<bool>(c) ? 1 : 0);
  std::printf("guarded %d %d %d\n", guarded(0), guarded(1), guarded(5));
  std::printf("lambda %d\n", with_lambda(make_vector()));
  Matrix<3> m;
  std::printf("matrix %d %d %d %d\n", m.get(0, 0), m.get(1, 1), m.get(2, 2), m.get(2, 1));
  Gen g = counter_gen(3);
  int sum = 0;
  while (!g.h.done()) {
    g.h.resume();
    if (!g.h.done()) {
      sum += g.h.promise().value;
    }
  }
  std::printf("gen %d where %s:%d\n", sum, __FILE__, __LINE__);
  return 0;
}
