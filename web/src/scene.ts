/**
 * A recorded episode as a three.js scene: one group per MuJoCo body holding its geoms (MuJoCo's size
 * conventions, poses relative to the body), posed per frame from the recording. MuJoCo is z-up, so the
 * camera's up is +z and no axes are swapped.
 */
import * as THREE from 'three';
import { frameCount, type EpisodeGeom, type RecordedEpisode } from '../../src/run/episode-format.ts';

const quat = (q: ArrayLike<number>, at = 0) => new THREE.Quaternion(q[at + 1], q[at + 2], q[at + 3], q[at]); // MuJoCo: w, x, y, z

function checker(size: number): THREE.Texture {
  const data = new Uint8Array([200, 208, 214, 255, 150, 160, 170, 255, 150, 160, 170, 255, 200, 208, 214, 255]);
  const tex = new THREE.DataTexture(data, 2, 2);
  tex.wrapS = tex.wrapT = THREE.RepeatWrapping;
  tex.magFilter = THREE.NearestFilter;
  tex.repeat.set(size, size); // 1 m squares: motion is visible against the floor
  tex.needsUpdate = true;
  return tex;
}

function geomMesh(g: EpisodeGeom): THREE.Object3D | null {
  const [a, b, c] = g.size;
  let geometry: THREE.BufferGeometry;
  let material: THREE.Material;
  const color = new THREE.Color(g.rgba[0], g.rgba[1], g.rgba[2]);
  const opacity = g.rgba[3] ?? 1;
  const basic = () => new THREE.MeshLambertMaterial({ color, transparent: opacity < 1, opacity });
  switch (g.type) {
    case 'plane': {
      // Size 0 means infinite in MuJoCo: draw 50 m.
      const w = a > 0 ? 2 * a : 100;
      const h = b > 0 ? 2 * b : 100;
      geometry = new THREE.PlaneGeometry(w, h);
      material = new THREE.MeshLambertMaterial({ map: checker(Math.max(w, h) / 2), color: 0xffffff });
      break;
    }
    case 'sphere':
      geometry = new THREE.SphereGeometry(a, 16, 12);
      material = basic();
      break;
    case 'ellipsoid':
      geometry = new THREE.SphereGeometry(1, 16, 12).scale(a, b, c);
      material = basic();
      break;
    case 'capsule':
      // MuJoCo: radius, half-length along local z; three.js builds along y.
      geometry = new THREE.CapsuleGeometry(a, 2 * b, 6, 12).rotateX(Math.PI / 2);
      material = basic();
      break;
    case 'cylinder':
      geometry = new THREE.CylinderGeometry(a, a, 2 * b, 20).rotateX(Math.PI / 2);
      material = basic();
      break;
    case 'box':
      geometry = new THREE.BoxGeometry(2 * a, 2 * b, 2 * c);
      material = basic();
      break;
    default:
      return null; // meshes, height fields, SDFs: not in the recordings' scenes yet
  }
  const mesh = new THREE.Mesh(geometry, material);
  mesh.position.set(g.pos[0], g.pos[1], g.pos[2]);
  mesh.quaternion.copy(quat(g.quat));
  return mesh;
}

export class EpisodeView {
  readonly scene = new THREE.Scene();
  readonly camera = new THREE.PerspectiveCamera(40, 1, 0.05, 200);
  readonly frames: number;
  /** Simulated seconds at each frame. */
  private readonly times: number[];
  private readonly bodies: THREE.Group[] = [];
  /** The geoms of moving bodies (not the world's). */
  private readonly moving: THREE.Object3D[] = [];
  private readonly center: THREE.Vector3;
  private readonly distance: number;
  private readonly rootX0: number;
  frame = 0;

  constructor(readonly episode: RecordedEpisode) {
    this.frames = frameCount(episode);
    let t = 0;
    this.times = episode.frameSteps.map((s) => (t += s * episode.dt));
    this.scene.background = new THREE.Color(0.8, 0.87, 0.94);
    this.scene.add(new THREE.AmbientLight(0xffffff, 1.2));
    const sun = new THREE.DirectionalLight(0xffffff, 2);
    sun.position.set(2, -3, 6);
    this.scene.add(sun);
    for (let b = 0; b < episode.nbody; b++) {
      const group = new THREE.Group();
      this.bodies.push(group);
      this.scene.add(group);
    }
    for (const g of episode.geoms) {
      const mesh = geomMesh(g);
      if (!mesh || !this.bodies[g.body]) continue;
      this.bodies[g.body].add(mesh);
      if (g.body > 0) this.moving.push(mesh);
    }
    // Frame the bodies of the first frame (the world, body 0, holds the floor): their centre, at a distance
    // that fits their spread; the camera then follows the root body along x (locomotion moves that way).
    const p = episode.poses;
    const pts: THREE.Vector3[] = [];
    for (let b = 1; b < episode.nbody; b++) pts.push(new THREE.Vector3(p[b * 7], p[b * 7 + 1], p[b * 7 + 2]));
    this.center = pts.reduce((s, v) => s.add(v), new THREE.Vector3()).divideScalar(Math.max(1, pts.length));
    const spread = Math.max(0.3, ...pts.map((v) => v.distanceTo(this.center)));
    this.distance = 3.2 * spread + 1;
    this.rootX0 = episode.nbody > 1 ? p[7] : 0;
    this.camera.up.set(0, 0, 1);
    this.show(0);
  }

  /** Simulated length of the episode in seconds. */
  get duration(): number {
    return this.times[this.times.length - 1];
  }

  /** Poses at simulated time t (seconds), interpolated between the recorded frames. */
  showTime(t: number): void {
    const times = this.times;
    let f = 0;
    while (f + 1 < this.frames && times[f + 1] <= t) f++;
    const next = Math.min(f + 1, this.frames - 1);
    const span = times[next] - times[f];
    this.show(f, span > 0 ? Math.min(1, Math.max(0, (t - times[f]) / span)) : 0);
  }

  show(f: number, alpha = 0): void {
    this.frame = f;
    const p = this.episode.poses;
    const nb = this.episode.nbody;
    const g = Math.min(f + 1, this.frames - 1);
    const a = new THREE.Vector3();
    const qa = new THREE.Quaternion();
    for (let b = 0; b < nb; b++) {
      const i = (f * nb + b) * 7;
      const j = (g * nb + b) * 7;
      a.set(p[i], p[i + 1], p[i + 2]).lerp(new THREE.Vector3(p[j], p[j + 1], p[j + 2]), alpha);
      qa.copy(quat(p, i + 3)).slerp(quat(p, j + 3), alpha);
      this.bodies[b].position.copy(a);
      this.bodies[b].quaternion.copy(qa);
    }
    const root = nb > 1 ? this.bodies[1].position.x - this.rootX0 : 0;
    const target = this.center.clone().add(new THREE.Vector3(root, 0, 0));
    this.camera.position.set(target.x, target.y - this.distance, target.z + 0.25 * this.distance);
    this.camera.lookAt(target);
  }

  /** Where the centre of each geom of a moving body is drawn, in pixels of a viewport of the given size. */
  geomScreen(width: number, height: number): { x: number; y: number }[] {
    this.scene.updateMatrixWorld();
    this.camera.updateMatrixWorld();
    return this.moving.map((geom) => {
      const v = geom.getWorldPosition(new THREE.Vector3()).project(this.camera);
      return { x: ((v.x + 1) / 2) * width, y: ((1 - v.y) / 2) * height };
    });
  }

  dispose(): void {
    this.scene.traverse((o) => {
      if (o instanceof THREE.Mesh) {
        o.geometry.dispose();
        const m = o.material as THREE.MeshLambertMaterial;
        m.map?.dispose();
        m.dispose();
      }
    });
  }
}
