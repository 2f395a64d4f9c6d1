/**
 * The operator's key actions: re-sealing every stored secret under the current master
 * key, and publishing a new gateway signing key. Both are long or external steps (batched
 * re-encryption, a key published to the world) that are safe to repeat, so their audit
 * entry is written once they are done rather than in their transaction.
 */
import type { SecretBox } from '../secret-box';
import { recordedKeys } from '../master-key';
import type { GatewayKeyInfo, GatewayKeys } from '../gateway/signing-keys';
import {
  forgetKey,
  type ForgetResult,
  rotateSecrets,
  sealedKeyUsage,
  type ColumnKeys,
  type RotationResult,
} from '../db/rotate';
import { requireAdministrator, type Actor } from './actor';
import type { Transactor } from './transaction';

export class KeyService {
  constructor(
    private readonly tx: Transactor,
    private readonly box: SecretBox,
    private readonly gatewayKeys: GatewayKeys,
  ) {}

  /** Which loaded key seals how many stored secrets, per table. */
  async masterKeyStatus(): Promise<{
    currentKeyId: string;
    loadedKeyIds: string[];
    /** the keys the installation has recorded a key check value for */
    recordedKeyIds: string[];
    columns: ColumnKeys[];
  }> {
    return {
      currentKeyId: this.box.currentKeyId,
      loadedKeyIds: this.box.keyIds,
      recordedKeyIds: (await recordedKeys(this.tx.db)).map((k) => k.key_id),
      columns: await sealedKeyUsage(this.tx.db),
    };
  }

  /** Re-seals every stored secret under the current key. Audit: `keys.rotated` with the count. */
  async rotateMasterKey(
    actor: Actor,
    opts: { batchSize: number },
  ): Promise<{ currentKeyId: string; rotated: number; results: RotationResult[] }> {
    requireAdministrator(actor);
    // refused (nothing written) when a stored secret is sealed under a key this process does not hold
    const results = await rotateSecrets(this.tx.db, this.box, opts);
    const rotated = results.reduce((n, x) => n + x.rotated, 0);
    await this.tx.audit(actor, { event: 'keys.rotated', detail: { keyId: this.box.currentKeyId, rotated } });
    return { currentKeyId: this.box.currentKeyId, rotated, results };
  }

  /**
   * Forgets a lost master key: what it sealed gets new secrets (consumers, shown once) or is
   * revoked or deleted (tokens, gateway keys). The repair and its `keys.forgotten` entry
   * commit in one transaction.
   */
  async forgetMasterKey(actor: Actor, opts: { keyId: string }): Promise<ForgetResult> {
    requireAdministrator(actor);
    // forgetKey refuses (a ServiceError) a malformed, loaded or unknown key id
    return this.tx.run(async (t) => {
      const r = await forgetKey(t.db, this.box, opts.keyId.trim().toLowerCase());
      await t.audit(actor, {
        event: 'keys.forgotten',
        detail: {
          keyId: r.keyId,
          consumers: r.consumers.map((c) => c.key),
          accessTokensRevoked: r.accessTokensRevoked,
          requestTokensDeleted: r.requestTokensDeleted,
          gatewayKeysDeleted: r.gatewayKeysDeleted,
        },
      });
      return r;
    });
  }

  listGatewayKeys(): Promise<GatewayKeyInfo[]> {
    return this.gatewayKeys.list();
  }

  /** Publishes a new gateway signing key that signs after `activateInMs`. Audit: `gateway.key_rotated`. */
  async rotateGatewayKey(actor: Actor, opts: { activateInMs: number }): Promise<GatewayKeyInfo> {
    requireAdministrator(actor);
    const key = await this.gatewayKeys.rotate(opts.activateInMs);
    await this.tx.audit(actor, {
      event: 'gateway.key_rotated',
      detail: { kid: key.kid, activatesAt: key.activatesAt },
    });
    return key;
  }
}
