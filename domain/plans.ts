// Plans (SPEC §3): how many connectors a workspace may connect (sub-accounts of one platform count once).
import { z } from 'zod';
import { type Platform, platforms } from './channels.ts';

export const planNames = ['starter', 'growth', 'scale'] as const;
export const PlanName = z.enum(planNames);
export type PlanName = z.infer<typeof PlanName>;

export interface Plan {
  name: PlanName;
  connectorLimit: number;
  platforms: readonly Platform[];
}

export const plans: Record<PlanName, Plan> = {
  starter: { name: 'starter', connectorLimit: 3, platforms },
  growth: { name: 'growth', connectorLimit: 8, platforms },
  scale: { name: 'scale', connectorLimit: platforms.length, platforms },
};
