/** MuJoCo tasks: Gymnasium v5 locomotion and the manipulation tasks (Lift-v0). Usually reached through makeEnv('Hopper-v5'); direct access for tests and tools. */
export { loadMujoco, type MujocoModule } from './loader.ts';
export { MujocoEnv } from './mujoco-env.ts';
export { HopperEnv, createHopper, type HopperOptions } from './hopper.ts';
export { Walker2dEnv, createWalker2d, type Walker2dOptions } from './walker2d.ts';
export { HalfCheetahEnv, createHalfCheetah, type HalfCheetahOptions } from './half-cheetah.ts';
export { HOPPER_XML } from './models/hopper.ts';
export { WALKER2D_XML } from './models/walker2d.ts';
export { HALF_CHEETAH_XML } from './models/half-cheetah.ts';
export { LiftEnv, createLift, LIFT_SUCCESS_HEIGHT, type LiftOptions, type LiftReward } from './lift.ts';
export { PandaOscController, MAX_POS_DELTA, MAX_ROT_DELTA, WORKSPACE } from './panda-controller.ts';
export { LiftExpert, type LiftExpertOptions, type LiftExpertPhase } from './scripted/lift.ts';
export { PANDA_LIFT_XML, pandaSceneXml, type PandaSceneOptions } from './models/panda.ts';
