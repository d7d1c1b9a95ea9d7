#pragma once
// A real redis-server for the tests: a free loopback port, no persistence, stopped at the end.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace inpaint::test {

class RedisServer {
 public:
  // extra: more redis-server options, e.g. {"--appendonly", "yes", "--dir", dir} for data that
  // survives stop() and start().
  explicit RedisServer(std::vector<std::string> extra = {}) : port_(free_port()), extra_(std::move(extra)) { start(); }
  ~RedisServer() { stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  bool running() const { return pid_ > 0; }

  void start() {
    if (pid_ > 0) return;
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      std::string port = std::to_string(port_);
      if (FILE* quiet = std::fopen("/dev/null", "w")) ::dup2(::fileno(quiet), STDOUT_FILENO);  // its log
      std::vector<std::string> args = {"redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
                                       "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning", "--dir", "/tmp"};
      args.insert(args.end(), extra_.begin(), extra_.end());  // later options win
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execvp("redis-server", argv.data());
      std::perror("exec redis-server (install the redis-server package)");
      ::_exit(127);
    }
    for (int i = 0; i < 200; ++i) {  // up to 10 s
      if (accepts()) return;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("redis-server exited at start (is the redis-server package installed?)");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("redis-server did not start on port " + std::to_string(port_));
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);  // as a crash would: no goodbye to the clients
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  // A server that accepts connections but never answers (a hung host), and its recovery.
  void pause() const { ::kill(pid_, SIGSTOP); }
  void resume() const { ::kill(pid_, SIGCONT); }
  pid_t pid() const { return pid_; }

  // redis-cli's output for one command, e.g. cli("TTL k").
  std::string cli(const std::string& args) const {
    std::string command = "redis-cli -p " + std::to_string(port_) + " " + args + " 2>&1";
    std::string out;
    if (FILE* pipe = ::popen(command.c_str(), "r")) {
      char buffer[4096];
      std::size_t n;
      while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
      ::pclose(pipe);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }

 private:
  static int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ::close(fd);
      throw std::runtime_error("no free port");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
  }

  bool accepts() const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(std::uint16_t(port_));
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
  }

  int port_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
};

}  // namespace inpaint::test
