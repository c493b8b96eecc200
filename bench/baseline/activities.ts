// The baseline's one activity: one POST to the receipt server, which records when it arrived.
export function createBaselineActivities(receiptUrl: string) {
  return {
    async deliver(key: string): Promise<void> {
      const response = await fetch(receiptUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ key }),
      });
      if (!response.ok) throw new Error(`receipt server answered ${response.status}`);
    },
  };
}

export type BaselineActivities = ReturnType<typeof createBaselineActivities>;
