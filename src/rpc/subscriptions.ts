/**
 * events.subscribe / events.unsubscribe: each subscription is a bus listener that
 * sends `events.notify` on its connection. It ends with events.unsubscribe or with
 * the connection; a connection cut off for not reading drops its subscriptions.
 */
import type { EventBus, EventTopic } from '../observe/event-bus.js';
import type { RpcCallContext } from './method-table.js';
import { EmuError, ERROR_CODES } from '../util/emu-error.js';

interface Subscription {
  connectionId: number;
  unsubscribe: () => void;
}

export class SubscriptionRegistry {
  private readonly subs = new Map<string, Subscription>();
  private nextId = 1;

  constructor(private readonly bus: EventBus) {}

  subscribe(topics: readonly EventTopic[], ctx: RpcCallContext): string {
    const subscriptionId = `sub${this.nextId++}`;
    const off = this.bus.subscribe(topics, (topic, atNs, data) => {
      if (!ctx.notify('events.notify', { subscriptionId, topic, atNs, data })) this.drop(subscriptionId);
    });
    this.subs.set(subscriptionId, { connectionId: ctx.connectionId, unsubscribe: off });
    ctx.onClose(() => this.drop(subscriptionId));
    return subscriptionId;
  }

  unsubscribe(subscriptionId: string, ctx: RpcCallContext): void {
    const s = this.subs.get(subscriptionId);
    if (s === undefined || s.connectionId !== ctx.connectionId) {
      throw new EmuError(ERROR_CODES.NOT_FOUND, `no subscription ${JSON.stringify(subscriptionId)} on this connection`, { subscriptionId });
    }
    this.drop(subscriptionId);
  }

  get size(): number {
    return this.subs.size;
  }

  private drop(subscriptionId: string): void {
    const s = this.subs.get(subscriptionId);
    if (s === undefined) return;
    s.unsubscribe();
    this.subs.delete(subscriptionId);
  }
}
