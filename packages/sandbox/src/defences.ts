/**
 * The sandbox's defences, each switchable on its own for one purpose: a positive control in
 * test/sandbox turns ONE of them off, in its own process, to show that the attack it stops then
 * succeeds (docs/SECURITY.md, last column). No environment variable, config field, job, PRD,
 * model answer or repository reaches this object; production code only reads it, and every
 * control sets its flag back in a `finally`.
 */
export const sandboxDefences = {
  /** System and tool directories shown with `--ro-bind` (off: `--bind`, writable where the host's modes allow). */
  readOnlySystem: true,
  /** bwrap's `--unshare-pid`: the sandbox's init dying kills every process in it. */
  pidNamespace: true,
  /** After every command, every process of the run's exclusive uid is killed. */
  uidSweep: true,
  /** A cycle's `$HOME` and `/tmp` removed when its tests end (not only emptied at the slot's next cycle). */
  scratchDroppedAtEnd: true,
  /** scrubWorkTree removes git names, links and FIFOs the tests left before root's git runs. */
  scrubBeforeGit: true,
  /** scrubWorkTree gives owner bits back and drops group/other write. */
  modesGivenBack: true,
  /** `chown -R` keeps its default `-P` (off: `-L`, following every link). */
  chownFollowsNoLink: true,
  /** The uid lock directory is used only if it is root's own, writable by no one else. */
  lockDirOwnership: true,
  /** Lock files are opened `O_NOFOLLOW`. */
  lockFileNoFollow: true,
  /** A tree too deep for node's fs.rm is removed by rm(1), which walks with openat. */
  deepTreeRemoval: true,
};
