/** TypeScript shapes of the flight-delays schemas in `schemas/` (kept in step with the `.avsc` files by a test). */

export interface Flight {
  /** Scheduled departure, ms since epoch. */
  date: number;
  /** Arrival delay, minutes. */
  delay: number;
  /** Miles. */
  distance: number;
  origin: string;
  destination: string;
}

export interface Airport {
  iata: string;
  name: string;
  city: string | null;
  state: string | null;
  country: string | null;
  latitude: number;
  longitude: number;
}

export interface EnrichedFlight extends Flight {
  origin_city: string | null;
  origin_state: string | null;
  dest_city: string | null;
  dest_state: string | null;
}

/** Delays in minutes. */
export interface DelayStats {
  flights: number;
  delayed: number;
  total_delay: number;
  max_delay: number;
  avg_delay: number;
}

export interface AirportHourDelay extends DelayStats {
  airport: string;
  /** ms since epoch */
  window_start: number;
  /** ms since epoch */
  window_end: number;
}
