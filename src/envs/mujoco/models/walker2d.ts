/**
 * Walker2d MJCF, written in local coordinates from Gymnasium v5's walker2d_v5.xml as documented in
 * shared/reference/gymnasium-mujoco-v5.md (v5 differs from the v4 walker2d.xml only in the right foot's
 * friction, 0.9 -> 1.9, Gymnasium issue #477). Visual-only materials are left out.
 * `<size memory="2M">` (not in Gymnasium's file) caps each MjData's arena at 2 MB instead of MuJoCo's
 * default (~13 MB in this build, which limits how many envs fit the 2 GB wasm heap); it is scratch space only
 * (peak use under 50 kB here) and leaves the dynamics unchanged.
 */
export const WALKER2D_XML = `<mujoco model="walker2d">
  <compiler angle="degree" inertiafromgeom="true"/>
  <default>
    <joint armature="0.01" damping=".1" limited="true"/>
    <geom conaffinity="0" condim="3" contype="1" density="1000" friction=".7 .1 .1" rgba="0.8 0.6 .4 1"/>
  </default>
  <option integrator="RK4" timestep="0.002"/>
  <size memory="2M"/>
  <worldbody>
    <light cutoff="100" diffuse="1 1 1" dir="-0 0 -1.3" directional="true" exponent="1" pos="0 0 1.3" specular=".1 .1 .1"/>
    <geom conaffinity="1" condim="3" name="floor" pos="0 0 0" rgba="0.8 0.9 0.8 1" size="40 40 40" type="plane"/>
    <body name="torso" pos="0 0 1.25">
      <camera name="track" mode="trackcom" pos="0 -3 -0.25" xyaxes="1 0 0 0 0 1"/>
      <joint armature="0" axis="1 0 0" damping="0" limited="false" name="rootx" pos="0 0 -1.25" stiffness="0" type="slide"/>
      <joint armature="0" axis="0 0 1" damping="0" limited="false" name="rootz" pos="0 0 -1.25" ref="1.25" stiffness="0" type="slide"/>
      <joint armature="0" axis="0 1 0" damping="0" limited="false" name="rooty" pos="0 0 0" stiffness="0" type="hinge"/>
      <geom friction="0.9" name="torso_geom" size="0.05 0.2" type="capsule"/>
      <body name="thigh" pos="0 0 -0.2">
        <joint axis="0 -1 0" name="thigh_joint" pos="0 0 0" range="-150 0" type="hinge"/>
        <geom friction="0.9" name="thigh_geom" pos="0 0 -0.225" size="0.05 0.225" type="capsule"/>
        <body name="leg" pos="0 0 -0.7">
          <joint axis="0 -1 0" name="leg_joint" pos="0 0 0.25" range="-150 0" type="hinge"/>
          <geom friction="0.9" name="leg_geom" size="0.04 0.25" type="capsule"/>
          <body name="foot" pos="0.2 0 -0.35">
            <joint axis="0 -1 0" name="foot_joint" pos="-0.2 0 0.1" range="-45 45" type="hinge"/>
            <geom friction="1.9" name="foot_geom" pos="-0.1 0 0.1" quat="0.70710678118654757 0 -0.70710678118654746 0" size="0.06 0.1" type="capsule"/>
          </body>
        </body>
      </body>
      <body name="thigh_left" pos="0 0 -0.2">
        <joint axis="0 -1 0" name="thigh_left_joint" pos="0 0 0" range="-150 0" type="hinge"/>
        <geom friction="0.9" name="thigh_left_geom" pos="0 0 -0.225" rgba=".7 .3 .6 1" size="0.05 0.225" type="capsule"/>
        <body name="leg_left" pos="0 0 -0.7">
          <joint axis="0 -1 0" name="leg_left_joint" pos="0 0 0.25" range="-150 0" type="hinge"/>
          <geom friction="0.9" name="leg_left_geom" rgba=".7 .3 .6 1" size="0.04 0.25" type="capsule"/>
          <body name="foot_left" pos="0.2 0 -0.35">
            <joint axis="0 -1 0" name="foot_left_joint" pos="-0.2 0 0.1" range="-45 45" type="hinge"/>
            <geom friction="1.9" name="foot_left_geom" pos="-0.1 0 0.1" quat="0.70710678118654757 0 -0.70710678118654746 0" rgba=".7 .3 .6 1" size="0.06 0.1" type="capsule"/>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" gear="100" joint="thigh_joint" name="thigh_joint"/>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" gear="100" joint="leg_joint" name="leg_joint"/>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" gear="100" joint="foot_joint" name="foot_joint"/>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" gear="100" joint="thigh_left_joint" name="thigh_left_joint"/>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" gear="100" joint="leg_left_joint" name="leg_left_joint"/>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" gear="100" joint="foot_left_joint" name="foot_left_joint"/>
  </actuator>
</mujoco>
`;
