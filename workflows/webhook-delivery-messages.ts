// The webhook delivery workflow's contract, shared by the workflow, the worker's pump and the API.
import { defineSignal } from '@temporalio/workflow';

export const webhookDeliveryWorkflowType = 'webhookDelivery';
export const webhookDeliveryWorkflowId = (endpointId: string) => `webhook-${endpointId}`;

export interface WebhookDeliveryInput {
  endpointId: string;
}

/** Something may be due for the endpoint (a transition, a replay, its deletion): look now. */
/**
 * The task queue of the deliveries themselves, beside the main one: receivers that hang hold only its slots,
 * never the ones publications are tried in.
 */
export const webhookTaskQueue = (taskQueue: string) => `${taskQueue}-webhooks`;

export const webhookWakeSignal = defineSignal('webhookWake');

/** What one round of deliveries leaves: the endpoint is gone, or when the next try is due. */
export interface DeliveryRound {
  gone: boolean;
  /** ISO time of the next due try; null when nothing is pending. */
  nextAttemptAt: string | null;
  /** Events of the workspace wait for a transaction still running somewhere before they can be numbered. */
  unnumbered: boolean;
  delivered: number;
  failedTries: number;
}
