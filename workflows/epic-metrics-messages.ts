// The metrics workflow's contract, shared by the workflow, the epic run and the publish activity that starts it.
import { defineSignal } from '@temporalio/workflow';

export const epicMetricsWorkflowType = 'epicMetrics';
export const epicMetricsWorkflowId = (epicId: string) => `epic-metrics-${epicId}`;

export interface EpicMetricsInput {
  epicId: string;
}

/** The epic published more items (a retry): a round runs now and enrols them. */
export const itemsPublishedSignal = defineSignal('itemsPublished');

/** What an operator reads in the Temporal UI's list of runs. */
export const epicMetricsSummary = (epicId: string) =>
  `Read the performance of epic ${epicId}'s published items for 30 days`;
