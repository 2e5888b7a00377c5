/**
 * A version outside a checkpoint set, under a name the set's member landed at: a plain file
 * logged under a member's name, or a member of another set lying over it. It would replace bytes
 * the set's manifest vouches for, so a resumed job restoring the set would read other bytes or
 * fail its check. The key's lease record says which set the name's newest landed version belongs
 * to (KeyLeases: `landedSet`), so only names a set ever held cost a look-up.
 */
import { setState } from "../contract/checkpoint-set.ts";
import type { ArtifactEventV1 } from "../contract/schema.ts";
import type { SetLedger } from "../ledger/set-ledger.ts";
import type { LandedSet } from "./key-lease.ts";

/**
 * Why `event` must not replace the member of `landed` at this destination, or undefined when it
 * may: the set's own events may (SetCompletion.refusal judges them); a failed set, or one whose
 * files retention removed, holds nothing a manifest vouches for.
 */
export async function outsiderRefusal(
  sets: SetLedger,
  destination: { name: string; token: string },
  event: ArtifactEventV1,
  landed: LandedSet | undefined,
): Promise<string | undefined> {
  if (!landed) return undefined;
  const { project, run, set } = landed;
  if (set === event.set?.name && project === event.project && run === event.run) return undefined;
  const ref = { destinationToken: destination.token, destination: destination.name, project, run, set };
  const record = await sets.get(ref);
  if (!record || record.removed !== undefined || setState(record) === "failed") return undefined;
  const q = JSON.stringify;
  const where = project === event.project && run === event.run ? "" : ` (run ${q(run)} of project ${q(project)})`;
  return `${q(event.name)} is a member of checkpoint set ${q(set)}${where} at ${destination.name}, which a version outside that set cannot replace; log it in a set of its own, or under another name`;
}
