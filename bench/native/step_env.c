/*
 * Native reference for `npm run bench:envs`: steps the same MJCF as dsrl's Hopper-v5 / Walker2d-v5 /
 * HalfCheetah-v5 with the same per-step work (random actions, frame_skip mj_step calls, float32 observation,
 * reward, health check, reset with noise on termination or after 1000 steps), linked against the system
 * MuJoCo (Debian libmujoco-dev). Compiled into a temporary folder at bench time.
 *
 * usage: step_env <model.xml> <hopper|walker2d|halfcheetah> <seconds>
 * prints: native task=<task> sps=<env steps per second> steps=<n> episodes=<n>
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mujoco/mujoco.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

/* xorshift64*: uniform in [0, 1). */
static double uniform01(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (double)((rng_state * 0x2545F4914F6CDD1DULL) >> 11) * (1.0 / 9007199254740992.0);
}

static double normal01(void) {
  double u1 = 1.0 - uniform01(), u2 = uniform01();
  return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

enum task { HOPPER, WALKER2D, HALFCHEETAH };

/* Gymnasium v5 is_healthy for each task (open intervals), on the post-step state. */
static int healthy(enum task t, const mjModel* m, const mjData* d) {
  if (t == HALFCHEETAH) return 1;
  double z = d->qpos[1], angle = d->qpos[2];
  if (t == HOPPER) {
    for (int i = 2; i < m->nq; i++) if (!(-100 < d->qpos[i] && d->qpos[i] < 100)) return 0;
    for (int i = 0; i < m->nv; i++) if (!(-100 < d->qvel[i] && d->qvel[i] < 100)) return 0;
    return 0.7 < z && -0.2 < angle && angle < 0.2;
  }
  return 0.8 < z && z < 2.0 && -1 < angle && angle < 1;
}

static void reset(enum task t, const mjModel* m, mjData* d) {
  double scale = t == HALFCHEETAH ? 0.1 : 5e-3;
  mj_resetData(m, d);
  for (int i = 0; i < m->nq; i++) d->qpos[i] = m->qpos0[i] + scale * (2 * uniform01() - 1);
  for (int i = 0; i < m->nv; i++) d->qvel[i] = t == HALFCHEETAH ? scale * normal01() : scale * (2 * uniform01() - 1);
  mj_forward(m, d);
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s <model.xml> <hopper|walker2d|halfcheetah> <seconds>\n", argv[0]);
    return 2;
  }
  enum task t;
  if (!strcmp(argv[2], "hopper")) t = HOPPER;
  else if (!strcmp(argv[2], "walker2d")) t = WALKER2D;
  else if (!strcmp(argv[2], "halfcheetah")) t = HALFCHEETAH;
  else { fprintf(stderr, "unknown task %s\n", argv[2]); return 2; }
  double seconds = atof(argv[3]);

  char error[1000] = "";
  mjModel* m = mj_loadXML(argv[1], NULL, error, sizeof(error));
  if (!m) { fprintf(stderr, "mj_loadXML: %s\n", error); return 1; }
  mjData* d = mj_makeData(m);
  int frame_skip = t == HALFCHEETAH ? 5 : 4;
  double dt = m->opt.timestep * frame_skip;
  double ctrl_weight = t == HALFCHEETAH ? 0.1 : 1e-3;
  int clip_velocity = t != HALFCHEETAH;
  int obs_size = m->nq - 1 + m->nv;
  float* obs = (float*)malloc(sizeof(float) * obs_size);
  double* action = (double*)malloc(sizeof(double) * m->nu);

  reset(t, m, d);
  long steps = 0, episodes = 0;
  int episode_steps = 0;
  double reward_sum = 0, start = now_s(), elapsed = 0;
  while (1) {
    for (int i = 0; i < m->nu; i++) action[i] = 2 * uniform01() - 1;
    for (int i = 0; i < m->nu; i++) d->ctrl[i] = action[i];
    double x_before = d->qpos[0];
    for (int k = 0; k < frame_skip; k++) mj_step(m, d);
    for (int i = 1; i < m->nq; i++) obs[i - 1] = (float)d->qpos[i];
    for (int i = 0; i < m->nv; i++) {
      double v = d->qvel[i];
      if (clip_velocity) v = v > 10 ? 10 : v < -10 ? -10 : v;
      obs[m->nq - 1 + i] = (float)v;
    }
    double ctrl_cost = 0;
    for (int i = 0; i < m->nu; i++) ctrl_cost += action[i] * action[i];
    int is_healthy = healthy(t, m, d);
    reward_sum += (d->qpos[0] - x_before) / dt + (t == HALFCHEETAH ? 0 : is_healthy) - ctrl_weight * ctrl_cost;
    steps++;
    episode_steps++;
    if (!is_healthy || episode_steps >= 1000) {
      reset(t, m, d);
      episodes++;
      episode_steps = 0;
    }
    if ((steps & 255) == 0) {
      elapsed = now_s() - start;
      if (elapsed >= seconds) break;
    }
  }
  /* reward_sum and obs are printed so the compiler cannot drop the work. */
  printf("native task=%s sps=%.0f steps=%ld episodes=%ld reward_sum=%.3f obs0=%.4f\n", argv[2], steps / elapsed, steps, episodes,
         reward_sum, obs[0]);
  free(obs);
  free(action);
  mj_deleteData(d);
  mj_deleteModel(m);
  return 0;
}
