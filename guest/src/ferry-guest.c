/*
 * ferry-guest — workload and heartbeat of Ferry's demo guest.
 *
 * Runs as a supervised child of /init (a busybox sh script). Once per second of guest run
 * time it writes exactly one line to its stdout (the serial console):
 *
 *   ferry-heartbeat seq=N bad=M uptime=S wl=LIST [dirtied_mib=.. verified_mib=.. sweeps=..]
 *                   disk=N|none|off|foreign|error [boots=B disk_prev=P] [http_reqs=R] [cpu_mloops=C]
 *                   [dial_ok=O dial_failed=F]
 *                   [err=...]
 *
 * seq starts at 0 and grows by exactly one per line; it never jumps ahead to catch up with
 * wall-clock time (after a pause the next line carries seq+1). bad counts pages of the
 * dirty workload that did not hold what the guest last wrote into them (must stay 0).
 *
 * Workloads run in forked children (shared counters live in a MAP_SHARED page), so a
 * failing workload never stops the heartbeat; the parent reports it as err=... and
 * restarts it.
 *
 * Configuration comes from /proc/cmdline (or `--cmdline STRING` for testing on a host):
 *   ferry.workload=LIST      comma-separated: idle | cpu | http | echo | dirty:RATE_MIBS:SET_MIB
 *                            | dial:PORT (once a second, open a TCP connection to the
 *                            gateway's PORT and count whether it connected: shows what a
 *                            guest can reach of its host, e.g. 10.0.2.2 under user-mode NICs)
 *   ferry.gw=ADDR            the gateway dial connects to (default 10.0.2.2)
 *   ferry.disk=0|1           0: never touch /dev/vda; 1: use it even if sector 0 holds
 *                            foreign data; default: use it if it is blank or already ours
 *   ferry.selftest_corrupt=1 dirty workload corrupts one page 3 s after it starts (proves
 *                            that the check detects a stale page: bad becomes > 0)
 *   ferry.http_port=N        TCP port of the http workload (default 80)
 *
 * Disk record (written to sector 0 of /dev/vda, and a copy to sector 1; all integers
 * little-endian; a host can read it with `qemu-img dd if=disk.qcow2 of=rec bs=512 count=1`):
 *   offset  size  field
 *        0     8  magic   "FERRYDSK" (ASCII, no NUL)
 *        8     4  version (1)
 *       12     4  boots   (number of boots that used this disk, >= 1)
 *       16     8  counter (disk counter: previous boot's counter + seconds since this boot)
 *       24     8  seq     (heartbeat seq of this boot when the record was written)
 *       32     8  uptime_ms (guest CLOCK_BOOTTIME when written)
 *       40     4  checksum: FNV-1a 32-bit over bytes 0..39
 *       44   468  zero
 * The counter never goes backwards across reboots.
 *
 * Power: the parent listens on /dev/input/event* for KEY_POWER (ACPI power button, i.e.
 * QMP system_powerdown) and on SIGTERM: it stops workloads, writes a final disk record,
 * syncs and powers the machine off (reboot(RB_POWER_OFF)).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE_SIZE_B 4096u
#define WORDS_PER_PAGE (PAGE_SIZE_B / 8u)
#define STATE_FILE "/run/ferry-guest.state"
#define DISK_DEV "/dev/vda"
#define DISK_MAGIC "FERRYDSK"
#define DISK_VERSION 1u
#define MAX_EVFDS 16
#define MAX_BAD_REPORTS 20

/* ---------- shared state between the heartbeat parent and workload children ---------- */

struct shared {
  uint64_t bad;            /* pages that failed verification */
  uint64_t dirtied_pages;  /* pages rewritten with a new generation */
  uint64_t verified_pages; /* pages verified (pre-write checks + sweeps) */
  uint64_t sweeps;         /* completed full background sweeps */
  uint64_t http_reqs;
  uint64_t cpu_mloops;
  uint64_t dial_ok;
  uint64_t dial_failed;
  uint32_t dirty_ready;
  uint32_t bad_reports;
  uint32_t line_gen; /* seqlock for line[] */
  char line[768];
  char dirty_err[96];
};

static struct shared *sh;
static int out_fd = 1;

/* configuration */
static char cfg_workload[256] = "idle";
static int cfg_disk = -1; /* -1 auto, 0 off, 1 force */
static int cfg_selftest_corrupt;
static int cfg_http_port = 80;
static char cfg_gw[32] = "10.0.2.2";
static int wl_dirty, wl_cpu, wl_http, wl_echo, wl_dial;
static unsigned dial_port;
static unsigned dirty_rate_mib, dirty_set_mib;
static char wl_err[160];

static void out(const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
  buf[n++] = '\n';
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(out_fd, p, (size_t)n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += w;
    n -= (int)w;
  }
}

static double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double boot_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s) {
  if (s <= 0) return;
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

#define ATOMIC_ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
#define ATOMIC_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)

/* ---------- configuration ---------- */

static void parse_cmdline(const char *cmdline) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", cmdline);
  char *save = NULL;
  for (char *tok = strtok_r(buf, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
    if (!strncmp(tok, "ferry.workload=", 15))
      snprintf(cfg_workload, sizeof cfg_workload, "%s", tok + 15);
    else if (!strncmp(tok, "ferry.disk=", 11))
      cfg_disk = atoi(tok + 11) ? 1 : 0;
    else if (!strncmp(tok, "ferry.selftest_corrupt=", 23))
      cfg_selftest_corrupt = atoi(tok + 23) != 0;
    else if (!strncmp(tok, "ferry.http_port=", 16))
      cfg_http_port = atoi(tok + 16);
    else if (!strncmp(tok, "ferry.gw=", 9))
      snprintf(cfg_gw, sizeof cfg_gw, "%s", tok + 9);
  }
  if (!cfg_workload[0]) snprintf(cfg_workload, sizeof cfg_workload, "idle");
  if (cfg_http_port <= 0 || cfg_http_port > 65535) cfg_http_port = 80;
}

static void parse_workloads(void) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", cfg_workload);
  char *save = NULL;
  for (char *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
    unsigned r, s;
    char extra;
    if (!strcmp(w, "idle")) continue;
    if (!strcmp(w, "cpu")) {
      wl_cpu = 1;
    } else if (!strcmp(w, "echo")) {
      wl_echo = 1;
    } else if (!strcmp(w, "http")) {
      wl_http = 1;
    } else if (!strncmp(w, "dial:", 5) && sscanf(w + 5, "%u%c", &r, &extra) == 1 && r > 0 && r <= 65535) {
      wl_dial = 1;
      dial_port = r;
    } else if (!strncmp(w, "dirty:", 6) && sscanf(w + 6, "%u:%u%c", &r, &s, &extra) == 2 && s > 0 &&
               s <= 1048576 && r <= 1048576) {
      wl_dirty = 1;
      dirty_rate_mib = r;
      dirty_set_mib = s;
    } else {
      out("ferry-error unknown workload '%s' (known: idle, cpu, http, echo, dirty:RATE_MIBS:SET_MIB, dial:PORT)", w);
      snprintf(wl_err, sizeof wl_err, "unknown-workload:%.100s", w);
    }
  }
}

/* ---------- dirty workload: recomputable page contents ---------- */

static inline uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Word w of page idx at generation gen is page_base(idx, gen) ^ (w * K). */
#define WORD_K 0x9e3779b97f4a7c15ull
static inline uint64_t page_base(uint64_t idx, uint32_t gen) {
  return mix64((idx << 32) ^ (uint64_t)gen ^ 0x4645525259000000ull);
}

static void fill_page(uint64_t *p, uint64_t idx, uint32_t gen) {
  uint64_t b = page_base(idx, gen);
  for (uint64_t w = 0; w < WORDS_PER_PAGE; w++) p[w] = b ^ (w * WORD_K);
}

/* returns -1 if the page is intact, else the index of the first wrong word */
static int check_page(const uint64_t *p, uint64_t idx, uint32_t gen) {
  uint64_t b = page_base(idx, gen);
  uint64_t acc = 0;
  for (uint64_t w = 0; w < WORDS_PER_PAGE; w++) acc |= p[w] ^ (b ^ (w * WORD_K));
  if (!acc) return -1;
  for (uint64_t w = 0; w < WORDS_PER_PAGE; w++)
    if (p[w] != (b ^ (w * WORD_K))) return (int)w;
  return 0;
}

static void report_bad(const char *where, uint64_t idx, uint32_t gen, int word, const uint64_t *p) {
  ATOMIC_ADD(&sh->bad, 1);
  if (ATOMIC_ADD(&sh->bad_reports, 1) <= MAX_BAD_REPORTS)
    out("ferry-bad page=%llu expected_gen=%u word=%d found=%016llx expected=%016llx check=%s",
        (unsigned long long)idx, gen, word, (unsigned long long)p[word],
        (unsigned long long)(page_base(idx, gen) ^ ((uint64_t)word * WORD_K)), where);
}

/* The working set must fit in the guest, or the OOM killer ends the writer and nothing is
 * dirtied at all (a 128 MiB guest has about 84 MiB available). Clamp it to what is available
 * now, less a margin for the kernel and the rest of userland, and say so on the console;
 * the heartbeat line reports the set actually in use as set_mib=. */
#define DIRTY_MARGIN_MIB 24u
static void clamp_dirty_set(void) {
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f) return;
  char key[64];
  unsigned long kib = 0, v;
  while (fscanf(f, "%63s %lu kB\n", key, &v) == 2) {
    if (!strcmp(key, "MemAvailable:")) { kib = v; break; }
  }
  fclose(f);
  unsigned avail_mib = (unsigned)(kib / 1024);
  unsigned fit = avail_mib > DIRTY_MARGIN_MIB + 4 ? avail_mib - DIRTY_MARGIN_MIB : 4;
  if (kib > 0 && dirty_set_mib > fit) {
    out("ferry-dirty clamped set_mib=%u requested=%u mem_available_mib=%u", fit, dirty_set_mib, avail_mib);
    dirty_set_mib = fit;
  }
}

static void dirty_main(void) {
  size_t npages = (size_t)dirty_set_mib * (1024u * 1024u / PAGE_SIZE_B);
  size_t bytes = npages * PAGE_SIZE_B;
  uint8_t *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  uint32_t *gens = calloc(npages, sizeof *gens);
  if (mem == MAP_FAILED || !gens) {
    snprintf(sh->dirty_err, sizeof sh->dirty_err, "dirty-alloc:%s", strerror(errno));
    _exit(2);
  }
  int locked = mlock(mem, bytes) == 0;
  for (size_t i = 0; i < npages; i++) fill_page((uint64_t *)(mem + i * PAGE_SIZE_B), i, 0);
  __atomic_store_n(&sh->dirty_ready, 1, __ATOMIC_RELEASE);
  out("ferry-dirty ready set_mib=%u rate_mibs=%u pages=%zu mlock=%d", dirty_set_mib, dirty_rate_mib, npages, locked);

  const double pps = (double)dirty_rate_mib * (1024.0 * 1024.0 / PAGE_SIZE_B);
  const double sweep_period = 8.0; /* seconds for a full background sweep */
  double sweep_pps = (double)npages / sweep_period;
  if (sweep_pps < 256) sweep_pps = 256;
  double start = mono_now(), last = start;
  double wbudget = 0, sbudget = 0;
  int corrupted = 0;
  size_t sweep_pos = 0;
  uint64_t rng = 0x2545f4914f6cdd1dull ^ (uint64_t)getpid();

  for (;;) {
    double now = mono_now();
    double dt = now - last;
    last = now;
    if (dt < 0) dt = 0;
    wbudget += dt * pps;
    sbudget += dt * sweep_pps;
    /* never burst to catch up after a pause or when the CPU is too slow */
    if (wbudget > pps * 0.2 + 1) wbudget = pps * 0.2 + 1;
    if (sbudget > sweep_pps * 0.2 + 1) sbudget = sweep_pps * 0.2 + 1;

    if (cfg_selftest_corrupt && !corrupted && now - start >= 3.0) {
      size_t victim = npages / 2;
      uint64_t *p = (uint64_t *)(mem + victim * PAGE_SIZE_B);
      p[17] ^= 0x1ull; /* a stale/garbled word the guest did not write */
      corrupted = 1;
      out("ferry-selftest corrupted page=%zu word=17", victim);
    }

    uint64_t wrote = 0, verified = 0;
    while (wbudget >= 1.0) {
      wbudget -= 1.0;
      rng ^= rng << 13;
      rng ^= rng >> 7;
      rng ^= rng << 17;
      size_t i = (size_t)(rng % npages);
      uint64_t *p = (uint64_t *)(mem + i * PAGE_SIZE_B);
      int w = check_page(p, i, gens[i]);
      if (w >= 0) report_bad("pre-write", i, gens[i], w, p);
      verified++;
      gens[i]++;
      fill_page(p, i, gens[i]);
      wrote++;
      if ((wrote & 255) == 0 && mono_now() - now > 0.05) break;
    }
    while (sbudget >= 1.0) {
      sbudget -= 1.0;
      size_t i = sweep_pos;
      uint64_t *p = (uint64_t *)(mem + i * PAGE_SIZE_B);
      int w = check_page(p, i, gens[i]);
      if (w >= 0) {
        report_bad("sweep", i, gens[i], w, p);
        fill_page(p, i, gens[i]); /* repair, so one corruption counts once */
      }
      verified++;
      if (++sweep_pos == npages) {
        sweep_pos = 0;
        ATOMIC_ADD(&sh->sweeps, 1);
      }
    }
    if (wrote) ATOMIC_ADD(&sh->dirtied_pages, wrote);
    if (verified) ATOMIC_ADD(&sh->verified_pages, verified);
    sleep_s(0.01);
  }
}

/* ---------- cpu workload ---------- */

static void cpu_main(void) {
  if (setpriority(PRIO_PROCESS, 0, 19) < 0) { /* keep the heartbeat on time */
  }
  volatile uint64_t x = 1;
  for (;;) {
    for (int i = 0; i < 1000000; i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
    ATOMIC_ADD(&sh->cpu_mloops, 1);
  }
}


/* ---------- TCP services ---------- */

/* A listening socket on every address, or the workload ends with a ferry-error line. */
static int listen_tcp(const char *what, int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 64) < 0) {
    out("ferry-error %s: cannot listen on port %d: %s", what, port, strerror(errno));
    _exit(3);
  }
  return s;
}

/* The next connection (retrying after interrupts and transient errors). */
static int accept_next(int s) {
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c >= 0) return c;
    if (errno != EINTR) sleep_s(0.05);
  }
}

/* ---------- echo workload (TCP port 7): one forked process per connection, no timeout,
 * so a connection can stay open for as long as the client likes (migration tests). */
static void echo_main(void) {
  signal(SIGCHLD, SIG_IGN); /* connection children reap themselves */
  int s = listen_tcp("echo", 7);
  int one = 1;
  for (;;) {
    int c = accept_next(s);
    pid_t p = fork();
    if (p == 0) {
      close(s);
      setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      char buf[4096];
      for (;;) {
        ssize_t r = read(c, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        for (ssize_t off = 0; off < r;) {
          ssize_t w = write(c, buf + off, (size_t)(r - off));
          if (w <= 0) _exit(0);
          off += w;
        }
      }
      _exit(0);
    }
    close(c);
  }
}

/* ---------- dial workload: can this guest open a connection to its gateway's PORT? ---------- */
static void dial_main(void) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)dial_port)};
  if (inet_pton(AF_INET, cfg_gw, &a.sin_addr) != 1) {
    out("ferry-error dial: bad gateway address '%s'", cfg_gw);
    _exit(3);
  }
  for (;;) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int ok = 0;
    if (s >= 0 && (connect(s, (struct sockaddr *)&a, sizeof a) == 0 || errno == EINPROGRESS)) {
      struct pollfd p = {.fd = s, .events = POLLOUT};
      int err = 0;
      socklen_t len = sizeof err;
      ok = poll(&p, 1, 1000) == 1 && getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
    if (s >= 0) close(s);
    ATOMIC_ADD(ok ? &sh->dial_ok : &sh->dial_failed, 1);
    sleep_s(1);
  }
}

/* ---------- http workload ---------- */

static void copy_line(char *dst, size_t n) {
  for (;;) {
    uint32_t g1 = __atomic_load_n(&sh->line_gen, __ATOMIC_ACQUIRE);
    if (g1 & 1) {
      sleep_s(0.001);
      continue;
    }
    snprintf(dst, n, "%s", sh->line);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&sh->line_gen, __ATOMIC_ACQUIRE) == g1) return;
  }
}

static void http_main(void) {
  int s = listen_tcp("http", cfg_http_port);
  for (;;) {
    int c = accept_next(s);
    struct timeval tv = {2, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char req[4096];
    size_t len = 0;
    while (len < sizeof req - 1) {
      ssize_t r = read(c, req + len, sizeof req - 1 - len);
      if (r <= 0) break;
      len += (size_t)r;
      req[len] = 0;
      if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n")) break;
    }
    req[len] = 0;
    char method[16] = "", path[256] = "";
    sscanf(req, "%15s %255s", method, path);
    char body[900];
    const char *status = "200 OK";
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
      status = "405 Method Not Allowed";
      snprintf(body, sizeof body, "method not allowed\n");
    } else if (!strcmp(path, "/health")) {
      snprintf(body, sizeof body, "ok\n");
    } else if (!strcmp(path, "/") || !strncmp(path, "/?", 2)) {
      char line[800];
      copy_line(line, sizeof line);
      snprintf(body, sizeof body, "%s\n", line);
    } else {
      status = "404 Not Found";
      snprintf(body, sizeof body, "not found\n");
    }
    char resp[1200];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     status, strlen(body), strcmp(method, "HEAD") ? body : "");
    ssize_t off = 0;
    while (off < n) {
      ssize_t w = write(c, resp + off, (size_t)(n - off));
      if (w <= 0) break;
      off += w;
    }
    ATOMIC_ADD(&sh->http_reqs, 1);
    shutdown(c, SHUT_WR);
    close(c);
  }
}

/* ---------- children supervision ---------- */

struct child {
  const char *name;
  void (*fn)(void);
  pid_t pid;
  int restarts;
  int permanent_failure;
  double restart_at;
  char last_err[64];
};

static struct child children[5];
static int nchildren;

static void start_child(struct child *c) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open("/proc/self/oom_score_adj", O_WRONLY);
    if (fd >= 0) {
      if (write(fd, "0", 1) < 0) {
      }
      close(fd);
    }
    signal(SIGTERM, SIG_DFL);
    c->fn();
    _exit(0);
  }
  if (pid < 0) {
    snprintf(c->last_err, sizeof c->last_err, "%s:fork:%s", c->name, strerror(errno));
    c->restart_at = mono_now() + 2;
    return;
  }
  c->pid = pid;
}

static void reap_children(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (int i = 0; i < nchildren; i++) {
      struct child *c = &children[i];
      if (c->pid != pid) continue;
      c->pid = 0;
      if (WIFEXITED(status))
        snprintf(c->last_err, sizeof c->last_err, "%s:exit%d", c->name, WEXITSTATUS(status));
      else
        snprintf(c->last_err, sizeof c->last_err, "%s:sig%d", c->name, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
      /* exit codes 2/3 are configuration failures (allocation, bind): retry slowly */
      c->permanent_failure = WIFEXITED(status) && (WEXITSTATUS(status) == 2 || WEXITSTATUS(status) == 3);
      c->restart_at = mono_now() + (c->permanent_failure ? 10.0 : 2.0);
      out("ferry-error workload %s stopped (%s), restarting", c->name, c->last_err);
    }
  }
  double now = mono_now();
  for (int i = 0; i < nchildren; i++) {
    struct child *c = &children[i];
    if (c->pid == 0 && now >= c->restart_at) {
      c->restarts++;
      start_child(c);
    }
  }
}

static void stop_children(void) {
  for (int i = 0; i < nchildren; i++)
    if (children[i].pid > 0) kill(children[i].pid, SIGKILL);
  for (int i = 0; i < nchildren; i++)
    if (children[i].pid > 0) waitpid(children[i].pid, NULL, 0);
}

/* ---------- disk record ---------- */

static int disk_fd = -1;
static const char *disk_state = "none"; /* none | off | foreign | error | ok */
static uint64_t disk_prev, disk_counter;
static uint32_t disk_boots;
static char disk_err[64];
static uint8_t *disk_buf; /* 4096-aligned, 1024 bytes */

static uint32_t fnv1a(const uint8_t *p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 16777619u;
  }
  return h;
}
static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static int record_valid(const uint8_t *r) {
  return !memcmp(r, DISK_MAGIC, 8) && get32(r + 8) == DISK_VERSION && get32(r + 40) == fnv1a(r, 40);
}

static void disk_open(int restarted) {
  if (cfg_disk == 0) {
    disk_state = "off";
    return;
  }
  if (access(DISK_DEV, F_OK) != 0) {
    disk_state = "none";
    return;
  }
  if (posix_memalign((void **)&disk_buf, 4096, 4096)) {
    disk_state = "error";
    snprintf(disk_err, sizeof disk_err, "alloc");
    return;
  }
  disk_fd = open(DISK_DEV, O_RDWR | O_DIRECT | O_DSYNC | O_CLOEXEC);
  if (disk_fd < 0) disk_fd = open(DISK_DEV, O_RDWR | O_DSYNC | O_CLOEXEC); /* fall back to fsync */
  if (disk_fd < 0) {
    disk_state = "error";
    snprintf(disk_err, sizeof disk_err, "open:%s", strerror(errno));
    return;
  }
  if (restarted) { /* values came from the state file */
    disk_state = "ok";
    return;
  }
  if (pread(disk_fd, disk_buf, 1024, 0) != 1024) {
    disk_state = "error";
    snprintf(disk_err, sizeof disk_err, "read:%s", strerror(errno));
    close(disk_fd);
    disk_fd = -1;
    return;
  }
  const uint8_t *r0 = disk_buf, *r1 = disk_buf + 512, *best = NULL;
  if (record_valid(r0)) best = r0;
  if (record_valid(r1) && (!best || get64(r1 + 16) > get64(best + 16))) best = r1;
  int blank = 1;
  for (int i = 0; i < 1024; i++)
    if (disk_buf[i]) {
      blank = 0;
      break;
    }
  if (best) {
    disk_prev = get64(best + 16);
    disk_boots = get32(best + 12) + 1;
  } else if (blank || cfg_disk == 1) {
    disk_prev = 0;
    disk_boots = 1;
  } else {
    disk_state = "foreign"; /* not ours and not blank: leave it alone (ferry.disk=1 overrides) */
    close(disk_fd);
    disk_fd = -1;
    return;
  }
  disk_state = "ok";
}

static void disk_write(uint64_t seq, int do_sync) {
  if (disk_fd < 0) return;
  disk_counter = disk_prev + seq;
  memset(disk_buf, 0, 512);
  memcpy(disk_buf, DISK_MAGIC, 8);
  put32(disk_buf + 8, DISK_VERSION);
  put32(disk_buf + 12, disk_boots);
  put64(disk_buf + 16, disk_counter);
  put64(disk_buf + 24, seq);
  put64(disk_buf + 32, (uint64_t)(boot_now() * 1000.0));
  put32(disk_buf + 40, fnv1a(disk_buf, 40));
  /* sector 0 first, then its copy in sector 1: one of them is always complete */
  for (off_t off = 0; off <= 512; off += 512) {
    if (pwrite(disk_fd, disk_buf, 512, off) != 512) {
      snprintf(disk_err, sizeof disk_err, "write:%s", strerror(errno));
      return;
    }
  }
  if (do_sync) fsync(disk_fd);
  disk_err[0] = 0;
}

/* ---------- restart continuity (the heartbeat process itself was restarted by init) ---------- */

static int load_state(uint64_t *seq) {
  FILE *f = fopen(STATE_FILE, "r");
  if (!f) return 0;
  unsigned long long s, p;
  unsigned b;
  int ok = fscanf(f, "%llu %llu %u", &s, &p, &b) == 3;
  fclose(f);
  if (!ok) return 0;
  *seq = s + 1;
  disk_prev = p;
  disk_boots = b;
  return 1;
}

static void save_state(uint64_t seq) {
  FILE *f = fopen(STATE_FILE ".tmp", "w");
  if (!f) return;
  fprintf(f, "%llu %llu %u\n", (unsigned long long)seq, (unsigned long long)disk_prev, disk_boots);
  fclose(f);
  rename(STATE_FILE ".tmp", STATE_FILE);
}

/* ---------- power button ---------- */

static int evfds[MAX_EVFDS];
static int nevfds;

static void scan_input(void) {
  DIR *d = opendir("/dev/input");
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d)) && nevfds < MAX_EVFDS) {
    if (strncmp(e->d_name, "event", 5)) continue;
    char p[300];
    snprintf(p, sizeof p, "/dev/input/%s", e->d_name);
    int fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) evfds[nevfds++] = fd;
  }
  closedir(d);
}

static volatile sig_atomic_t got_term;
static void on_term(int sig) {
  (void)sig;
  got_term = 1;
}

static int power_button_pressed(struct pollfd *pfds, int n) {
  int pressed = 0;
  for (int i = 0; i < n; i++) {
    if (!(pfds[i].revents & POLLIN)) continue;
    struct input_event ev[16];
    ssize_t r;
    while ((r = read(pfds[i].fd, ev, sizeof ev)) > 0)
      for (size_t k = 0; k < (size_t)r / sizeof ev[0]; k++)
        if (ev[k].type == EV_KEY && ev[k].code == KEY_POWER && ev[k].value == 1) pressed = 1;
  }
  return pressed;
}

static void power_off(uint64_t seq, const char *why) {
  out("ferry-poweroff reason=%s seq=%llu", why, (unsigned long long)seq);
  stop_children();
  disk_write(seq, 1);
  if (disk_fd >= 0) close(disk_fd);
  sync();
  if (!strcmp(disk_state, "ok"))
    out("ferry-poweroff disk=%llu boots=%u synced=1", (unsigned long long)disk_counter, disk_boots);
  else
    out("ferry-poweroff disk=%s synced=1", disk_state);
  if (getenv("FERRY_GUEST_NO_POWEROFF")) exit(0); /* host-side testing */
  reboot(RB_POWER_OFF);
  out("ferry-error poweroff failed: %s", strerror(errno));
  exit(1);
}

/* ---------- main ---------- */

int main(int argc, char **argv) {
  char cmdline[4096] = "";
  if (argc >= 3 && !strcmp(argv[1], "--cmdline")) {
    snprintf(cmdline, sizeof cmdline, "%s", argv[2]);
  } else {
    int fd = open("/proc/cmdline", O_RDONLY);
    if (fd >= 0) {
      ssize_t n = read(fd, cmdline, sizeof cmdline - 1);
      cmdline[n > 0 ? n : 0] = 0;
      close(fd);
    }
  }
  int fd = open("/proc/self/oom_score_adj", O_WRONLY);
  if (fd >= 0) {
    if (write(fd, "-1000", 5) < 0) {
    }
    close(fd);
  }

  sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) {
    out("ferry-error mmap shared: %s", strerror(errno));
    return 1;
  }
  parse_cmdline(cmdline);

  uint64_t seq = 0;
  int restarted = load_state(&seq);
  if (restarted) out("ferry-guest restarted, continuing at seq=%llu", (unsigned long long)seq);
  parse_workloads();
  disk_open(restarted);
  if (!restarted && !strcmp(disk_state, "ok")) disk_write(0, 1); /* record this boot at once */

  struct sigaction sa = {0};
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  if (wl_dirty) {
    clamp_dirty_set();
    children[nchildren++] = (struct child){.name = "dirty", .fn = dirty_main};
  }
  if (wl_cpu) children[nchildren++] = (struct child){.name = "cpu", .fn = cpu_main};
  if (wl_http) children[nchildren++] = (struct child){.name = "http", .fn = http_main};
  if (wl_echo) children[nchildren++] = (struct child){.name = "echo", .fn = echo_main};
  if (wl_dial) children[nchildren++] = (struct child){.name = "dial", .fn = dial_main};
  for (int i = 0; i < nchildren; i++) start_child(&children[i]);

  scan_input();
  double next = mono_now();
  for (;;) {
    /* wait for the next tick, watching the power button */
    for (;;) {
      if (got_term) power_off(seq, "sigterm");
      double now = mono_now();
      if (now >= next) break;
      struct pollfd pfds[MAX_EVFDS];
      for (int i = 0; i < nevfds; i++) pfds[i] = (struct pollfd){.fd = evfds[i], .events = POLLIN};
      int ms = (int)((next - now) * 1000.0) + 1;
      int r = poll(pfds, (nfds_t)nevfds, ms);
      if (r > 0 && power_button_pressed(pfds, nevfds)) power_off(seq, "power-button");
    }
    reap_children();
    if (nevfds == 0 && (seq % 5) == 0) scan_input();

    char line[768];
    size_t n = 0;
#define ADD(...) n += (size_t)snprintf(line + n, n < sizeof line ? sizeof line - n : 0, __VA_ARGS__)
    ADD("ferry-heartbeat seq=%llu bad=%llu uptime=%.1f wl=%s", (unsigned long long)seq,
        (unsigned long long)ATOMIC_LOAD(&sh->bad), boot_now(), cfg_workload);
    if (wl_dirty)
      ADD(" set_mib=%u dirtied_mib=%llu verified_mib=%llu sweeps=%llu", dirty_set_mib,
          (unsigned long long)(ATOMIC_LOAD(&sh->dirtied_pages) * PAGE_SIZE_B >> 20),
          (unsigned long long)(ATOMIC_LOAD(&sh->verified_pages) * PAGE_SIZE_B >> 20),
          (unsigned long long)ATOMIC_LOAD(&sh->sweeps));
    if (!strcmp(disk_state, "ok")) {
      disk_write(seq, 0);
      ADD(" disk=%llu boots=%u disk_prev=%llu", (unsigned long long)disk_counter, disk_boots,
          (unsigned long long)disk_prev);
    } else {
      ADD(" disk=%s", disk_state);
    }
    if (wl_http) ADD(" http_reqs=%llu", (unsigned long long)ATOMIC_LOAD(&sh->http_reqs));
    if (wl_cpu) ADD(" cpu_mloops=%llu", (unsigned long long)ATOMIC_LOAD(&sh->cpu_mloops));
    if (wl_dial)
      ADD(" dial_ok=%llu dial_failed=%llu", (unsigned long long)ATOMIC_LOAD(&sh->dial_ok),
          (unsigned long long)ATOMIC_LOAD(&sh->dial_failed));
    char errs[400] = "";
    size_t en = 0;
#define EADD(s)                                                                                    \
  do {                                                                                             \
    if ((s)[0]) en += (size_t)snprintf(errs + en, en < sizeof errs ? sizeof errs - en : 0, "%s%s", \
                                       en ? "," : "", (s));                                        \
  } while (0)
    EADD(wl_err);
    for (int i = 0; i < nchildren; i++) EADD(children[i].last_err);
    if (sh->dirty_err[0]) EADD(sh->dirty_err);
    if (disk_err[0]) EADD(disk_err);
    if (en) ADD(" err=%s", errs);
    if (restarted) ADD(" restarted=1");
    if (n >= sizeof line) n = sizeof line - 1;
    line[n] = 0;

    uint32_t g = sh->line_gen;
    __atomic_store_n(&sh->line_gen, g + 1, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(sh->line, line, n + 1);
    __atomic_store_n(&sh->line_gen, g + 2, __ATOMIC_RELEASE);

    out("%s", line);
    save_state(seq);
    seq++;
    /* next line one second after this one; never catch up after a pause or a stall */
    next += 1.0;
    double now = mono_now();
    if (next <= now) next = now + 1.0;
  }
}
